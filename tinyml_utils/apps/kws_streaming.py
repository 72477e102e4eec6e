"""Streaming keyword spotting: the model on a continuous recording, as a device runs it.

A wake-word model is trained on one-second clips, but a device hears a never-ending
stream. It computes a new feature frame every hop (31.25 ms here), runs the model on the
last second of frames, and turns the stream of scores into a few *detections*, as
TensorFlow Lite Micro's micro_speech example does in ``RecognizeCommands``:

1. **average** the wake-word score over the last ``average_window_ms`` (a single noisy
   window cannot fire) and require at least ``minimum_count`` results in that window;
2. fire when the average crosses ``threshold``;
3. **suppress** further detections for ``suppression_ms`` (one word = one detection).

How good that is depends on the threshold, and is measured as the two errors a user
feels: the share of spoken wake words that are missed (**miss rate**) and the number of
**false activations per hour** of audio. Sweeping the threshold gives a DET curve
(detection error trade-off); a product picks the threshold from it, e.g. "at most one
false activation per hour".

    clips = split_clips(data.preprocessing, "test")            # held-out speakers' waveforms
    rec = build_recording(**clips, seed=0)                      # a continuous recording
    scores, times = stream_scores(rec.audio, predict, params, 31, norm)  # model every hop
    det = det_curve(scores, times, rec)                         # miss rate vs false/hour
    pick_threshold(det, max_false_per_hour=1.0)

Choose the threshold on a recording of the VALIDATION speakers and report it on the test
speakers' recording: picking it on the test recording would flatter the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.data import datasets
from tinyml_utils.data import features as F
from tinyml_utils.data.datasets import speech_commands as sc

#: micro_speech's RecognizeCommands defaults, in ms (its detection_threshold 200/255 ~ 0.8).
SMOOTHING = {"average_window_ms": 1000, "minimum_count": 3, "suppression_ms": 1500}


@dataclass
class Recording:
    """A continuous recording built from clips, with where each word was placed.

    Attributes:
        audio: float32 samples in [-1, 1].
        sample_rate: samples per second.
        wake: (n, 2) start and end sample of every wake-word clip placed in it.
        other: (m, 2) start and end sample of every other word placed in it.
        info: how it was built (seconds of audio, clips used, noise level).
    """

    audio: np.ndarray
    sample_rate: int
    wake: np.ndarray
    other: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0


def _root(source: str, data_dir=None) -> Path:
    if data_dir is not None:
        return sc.find_root(Path(data_dir)) or Path(data_dir)
    if source.startswith("local:"):
        return Path(source.split(":", 1)[1])
    if source.startswith("download:"):
        url = source.split(":", 1)[1]
        variant = next((v for v, r in sc.REMOTES.items() if r[0].url == url), "full")
        folder = sc.download_cache_folder(sc.LOCATION) / variant
        return sc.find_root(folder) or folder
    raise DataError(f"cannot find the clips of source {source!r}; pass data_dir=<folder>.")


def split_clips(
    params: dict[str, Any], part: str = "test", data_dir=None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Waveforms of one split's speakers, read again from the clips (never from a cache):
    ``{"wake_clips", "other_clips", "noise_clips"}`` for :func:`build_recording`.

    ``params`` is a model's preprocessing (``data.preprocessing`` / preprocessing.json):
    its source, wake word and the groups of each split. Synthetic data is regenerated
    with ``seed`` (the seed it was prepared with). A split without background clips (a
    tiny quick-mode split) borrows the training split's: noise, not speakers.
    """
    split = params.get("split", {})
    if f"{part}_groups" not in split:
        raise DataError(f"part must be 'train', 'val' or 'test' (a split of params), got {part!r}.")
    wake_word = params.get("wake_word", "on")
    words, audio, groups = _clips_of(params, data_dir, seed)
    inside = np.isin(groups, list(split[f"{part}_groups"]))
    silence = words == sc.SILENCE
    noise = audio[inside & silence]
    if not len(noise):  # a small split may hold no background clip: borrow the training ones
        noise = audio[np.isin(groups, list(split["train_groups"])) & silence]
    return {
        "wake_clips": audio[inside & (words == wake_word)],
        "other_clips": audio[inside & (words != wake_word) & ~silence],
        "noise_clips": noise,
    }


def _clips_of(params: dict[str, Any], data_dir, seed: int):
    """(words, waveforms, groups) of every clip of the split's groups."""
    split = params["split"]
    wanted = set(split["train_groups"]) | set(split["val_groups"]) | set(split["test_groups"])
    wake_word = params.get("wake_word", "on")
    source = str(params.get("source", ""))
    if source == "synthetic":
        ds = datasets.load("speech_commands", source="synthetic", seed=seed, wake_word=wake_word)
        return np.asarray(ds.meta["words"]), np.asarray(ds.x, np.float32), np.asarray(ds.groups)
    root = _root(source, data_dir)
    test_val = set(split["val_groups"]) | set(split["test_groups"])
    # every val/test clip, and the training split's background clips only (not its speech)
    entries = [
        e
        for e in sc.select_clips(root, wake_word)
        if e[2] in test_val or (e[2] in wanted and e[1] == sc.SILENCE)
    ]
    words = np.array([e[1] for e in entries])
    audio = sc.read_clips(root, [sc.clip_name(e) for e in entries])
    return words, audio, np.array([e[2] for e in entries])


def build_recording(
    wake_clips: np.ndarray,
    other_clips: np.ndarray,
    noise_clips: np.ndarray,
    seed: int = 0,
    gap_seconds: tuple[float, float] = (1.0, 4.0),
    noise_level: tuple[float, float] = (0.1, 0.6),
    repeats: int = 1,
    sample_rate: int = 16000,
) -> Recording:
    """A continuous stream: every clip once (per repeat) in random order, separated by
    ``gap_seconds`` of background noise, on a bed of noise clips at a random level.

    ``wake_clips`` / ``other_clips`` are (n, samples) waveforms of HELD-OUT speakers (the
    test split), ``noise_clips`` (k, samples) background recordings (e.g. the test split's
    ``_silence_`` clips). ``repeats`` > 1 plays every clip again with another gain and
    position, for more hours of audio (the same speakers, so not more independent data).
    """
    wake_clips = np.asarray(wake_clips, np.float32)
    other_clips = np.asarray(other_clips, np.float32)
    noise_clips = np.asarray(noise_clips, np.float32)
    if len(wake_clips) == 0:
        raise DataError("build_recording needs at least one wake-word clip.")
    if len(noise_clips) == 0:
        raise DataError(
            "build_recording needs background-noise clips (e.g. the test split's _silence_ "
            "clips); pass noise_clips=..."
        )
    rng = np.random.default_rng(seed)
    clips = [(c, True) for c in wake_clips] + [(c, False) for c in other_clips]
    order = np.concatenate([rng.permutation(len(clips)) for _ in range(repeats)])
    gaps = (rng.uniform(*gap_seconds, len(order) + 1) * sample_rate).astype(int)
    length = int(gaps.sum() + sum(len(clips[i][0]) for i in order))
    audio = np.zeros(length, np.float32)
    # the noise bed: noise clips one after the other, each at its own level
    pos = 0
    while pos < length:
        n = noise_clips[rng.integers(len(noise_clips))]
        end = min(length, pos + len(n))
        peak = float(np.max(np.abs(n))) or 1.0
        audio[pos:end] += n[: end - pos] / peak * rng.uniform(*noise_level) * 0.1
        pos = end
    wake, other = [], []
    pos = int(gaps[0])
    for k, i in enumerate(order):
        clip, is_wake = clips[i]
        gain = rng.uniform(0.6, 1.4)
        audio[pos : pos + len(clip)] += clip * gain
        (wake if is_wake else other).append((pos, pos + len(clip)))
        pos += len(clip) + int(gaps[k + 1])
    np.clip(audio, -1.0, 1.0, out=audio)
    return Recording(
        audio=audio,
        sample_rate=sample_rate,
        wake=np.array(wake, np.int64).reshape(-1, 2),
        other=np.array(other, np.int64).reshape(-1, 2),
        info={
            "seconds": round(length / sample_rate, 1),
            "wake_words": len(wake),
            "other_words": len(other),
            "repeats": repeats,
            "seed": seed,
        },
    )


def stream_features(
    audio: np.ndarray, params: dict[str, Any], chunk_frames: int = 4096
) -> np.ndarray:
    """Feature frames ``(n_frames, bins)`` of a long recording, computed chunk by chunk
    (the same frames a device computes one hop at a time; bounded memory)."""
    frame = int(params.get("frame_length") or params["n_fft"])
    hop = int(params["hop_length"])
    if params.get("center"):
        raise DataError("streaming needs features with center=False (a device cannot look ahead).")
    n_frames = F.count_windows(len(audio), frame, hop)
    out = []
    for start in range(0, n_frames, chunk_frames):
        m = min(chunk_frames, n_frames - start)
        seg = audio[start * hop : start * hop + (m - 1) * hop + frame]
        out.append(F.audio_features(seg[None], params)[0])
    return np.concatenate(out).astype(np.float32)


def stream_scores(
    audio: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    params: dict[str, Any],
    window_frames: int,
    normalization: dict[str, list[float]] | None = None,
    stride_frames: int = 1,
    batch: int = 512,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the model every ``stride_frames`` hops over ``audio``.

    ``predict`` maps model inputs ``(n, window_frames, bins, 1)`` to scores: either the
    wake-word probability ``(n,)`` or class probabilities ``(n, 2)``. Returns the wake-word
    score of each run and its time in ms (the end of the window it saw).
    """
    from tinyml_utils.core.progress import tqdm

    feats = stream_features(audio, params)
    if normalization is not None:
        feats = F.normalize(feats, normalization)
    if len(feats) < window_frames:
        raise DataError(f"the recording is shorter than one model window ({window_frames} frames).")
    starts = np.arange(0, len(feats) - window_frames + 1, stride_frames)
    windows = np.lib.stride_tricks.sliding_window_view(feats, window_frames, axis=0)
    # sliding_window_view puts the window axis last: (n, bins, frames) -> (n, frames, bins)
    scores = []
    for b in tqdm(range(0, len(starts), batch), desc="streaming", disable=not progress):
        x = np.transpose(windows[starts[b : b + batch]], (0, 2, 1))[..., None]
        s = np.asarray(predict(np.ascontiguousarray(x, np.float32)), np.float32)
        scores.append(s[:, 1] if s.ndim == 2 else s.reshape(-1))
    hop_ms = 1000.0 * params["hop_length"] / params["sample_rate"]
    frame_ms = 1000.0 * (params.get("frame_length") or params["n_fft"]) / params["sample_rate"]
    times = starts * hop_ms + (window_frames - 1) * hop_ms + frame_ms
    return np.concatenate(scores), times


def smooth_scores(
    scores: np.ndarray,
    times_ms: np.ndarray,
    average_window_ms: float = 1000,
    minimum_count: int = 3,
) -> np.ndarray:
    """Causal moving average of ``scores`` over the last ``average_window_ms``; NaN where
    fewer than ``minimum_count`` results fall in the window (RecognizeCommands' rule)."""
    scores = np.asarray(scores, np.float64)
    times_ms = np.asarray(times_ms, np.float64)
    first = np.searchsorted(times_ms, times_ms - average_window_ms, side="right")
    csum = np.concatenate([[0.0], np.cumsum(scores)])
    idx = np.arange(len(scores))
    count = idx + 1 - first
    avg = (csum[idx + 1] - csum[first]) / np.maximum(count, 1)
    avg[count < minimum_count] = np.nan
    return avg


def detect(
    smoothed: np.ndarray, times_ms: np.ndarray, threshold: float, suppression_ms: float = 1500
) -> np.ndarray:
    """Times (ms) where the smoothed score reaches ``threshold``, at most one per
    ``suppression_ms`` (after a detection the detector stays quiet that long)."""
    above = np.flatnonzero(np.nan_to_num(smoothed, nan=-1.0) >= threshold)
    out, last = [], -np.inf
    for i in above:
        if times_ms[i] - last >= suppression_ms:
            out.append(times_ms[i])
            last = times_ms[i]
    return np.asarray(out, np.float64)


def match_detections(
    detections_ms: np.ndarray, rec: Recording, late_ms: float = 1000.0
) -> tuple[int, int]:
    """(hits, false activations): a detection is a hit when it falls between the start of
    a not-yet-detected wake-word clip and ``late_ms`` after its end (the model decides on
    the second of audio that ends at the detection); every other detection is false."""
    spans = rec.wake / rec.sample_rate * 1000.0
    used = np.zeros(len(spans), bool)
    hits = false = 0
    for t in detections_ms:
        ok = np.flatnonzero((spans[:, 0] <= t) & (t <= spans[:, 1] + late_ms) & ~used)
        if len(ok):
            used[ok[0]] = True
            hits += 1
        else:
            false += 1
    return hits, false


def det_curve(
    scores: np.ndarray,
    times_ms: np.ndarray,
    rec: Recording,
    thresholds: np.ndarray | None = None,
    average_window_ms: float = SMOOTHING["average_window_ms"],
    minimum_count: int = SMOOTHING["minimum_count"],
    suppression_ms: float = SMOOTHING["suppression_ms"],
):
    """Miss rate and false activations per hour for every threshold (pandas DataFrame)."""
    import pandas as pd

    if thresholds is None:
        thresholds = np.round(np.arange(0.05, 0.995, 0.01), 3)
    smoothed = smooth_scores(scores, times_ms, average_window_ms, minimum_count)
    rows = []
    n = len(rec.wake)
    for t in thresholds:
        hits, false = match_detections(detect(smoothed, times_ms, t, suppression_ms), rec)
        rows.append(
            {
                "threshold": float(t),
                "wake_words": n,
                "detected": hits,
                "miss_rate": 1.0 - hits / n,
                "false_activations": false,
                "false_per_hour": false / rec.hours,
            }
        )
    return pd.DataFrame(rows)


def pick_threshold(det, max_false_per_hour: float = 1.0) -> dict[str, Any]:
    """The DET row with the lowest miss rate among those with at most
    ``max_false_per_hour`` false activations per hour (ties: the higher threshold)."""
    ok = det[det["false_per_hour"] <= max_false_per_hour]
    if ok.empty:
        raise DataError(
            f"no threshold keeps false activations at or below {max_false_per_hour}/hour; "
            "raise the limit or improve the model."
        )
    best = ok.sort_values(["miss_rate", "threshold"], ascending=[True, False]).iloc[0]
    return best.to_dict()


def plot_det(curves: dict[str, Any], chosen: dict[str, Any] | None = None, title: str = ""):
    """DET curves (miss rate vs false activations per hour, log x); ``curves`` maps a label
    to a :func:`det_curve` table; ``chosen`` marks a picked threshold."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, det in curves.items():
        fa = np.maximum(det["false_per_hour"], 0.1)  # 0/hour drawn at 0.1 on the log axis
        ax.plot(fa, 100 * det["miss_rate"], marker=".", label=label)
    if chosen is not None:
        ax.plot(
            max(chosen["false_per_hour"], 0.1),
            100 * chosen["miss_rate"],
            "o",
            ms=10,
            mfc="none",
            color="k",
            label=f"threshold {chosen['threshold']:.2f}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("false activations per hour (0 drawn at 0.1)")
    ax.set_ylabel("miss rate (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title or "DET curve of the streaming detector")
    fig.tight_layout()
    return fig


def evaluate_streaming(
    model,
    params: dict[str, Any],
    data_dir=None,
    seed: int = 0,
    repeats: int = 2,
    max_false_per_hour: float = 1.0,
    stride_frames: int = 1,
    average_windows_ms: tuple[float, ...] = (500, 1000),
    progress: bool = True,
) -> dict[str, Any]:
    """The streaming detector of a keyword-spotting model, measured honestly.

    ``model`` is a .tflite file (path or bytes; the int8 file is what a device runs) or any
    callable from model inputs to scores; ``params`` its preprocessing
    (``data.preprocessing`` / preprocessing.json). A recording of the VALIDATION speakers
    picks the threshold (the lowest miss rate with at most ``max_false_per_hour``); a
    recording of the TEST speakers then reports miss rate and false activations per hour
    at that threshold. The averaging window is chosen the same way, on the validation
    recording, among ``average_windows_ms``. The model runs every ``stride_frames`` hops.

    Returns ``{"det": {"val": table, "test": table}, "chosen": val row, "test": test row,
    "recordings": {...}, "every_ms": ...}``.
    """
    if callable(model):
        predict = model
    else:
        from tinyml_utils.tflite.interpreters import TFLiteRunner

        predict = TFLiteRunner(model).predict
    features = params["features"]
    window = F.audio_feature_shape(int(params.get("clip_samples", sc.CLIP_SAMPLES)), features)[0]
    runs, recordings = {}, {}
    for part in ("val", "test"):
        rec = build_recording(
            **split_clips(params, part, data_dir, seed), seed=seed, repeats=repeats
        )
        scores, times = stream_scores(
            rec.audio,
            predict,
            features,
            window,
            params.get("normalization"),
            stride_frames=stride_frames,
            progress=progress,
        )
        runs[part] = (scores, times, rec)
        recordings[part] = rec.info
    options = []  # (val miss rate, -window, window, val DET) per averaging window
    for avg in average_windows_ms:
        det_val = det_curve(*runs["val"], average_window_ms=avg)
        ok = det_val[det_val["false_per_hour"] <= max_false_per_hour]
        miss = float(ok["miss_rate"].min()) if len(ok) else 2.0
        options.append((miss, -avg, avg, det_val))
    _, _, best_window, det_val = min(options, key=lambda o: o[:2])
    det = {"val": det_val, "test": det_curve(*runs["test"], average_window_ms=best_window)}
    chosen = pick_threshold(det["val"], max_false_per_hour)
    test = det["test"].set_index("threshold").loc[chosen["threshold"]].to_dict()
    test["threshold"] = chosen["threshold"]
    return {
        "det": det,
        "chosen": chosen,
        "test": test,
        "recordings": recordings,
        "every_ms": 1000.0 * stride_frames * features["hop_length"] / features["sample_rate"],
        "smoothing": {**SMOOTHING, "average_window_ms": best_window},
        "window_choice": {o[2]: o[0] if o[0] <= 1 else None for o in options},
        "max_false_per_hour": max_false_per_hour,
    }


def summary_markdown(result: dict[str, Any]) -> str:
    """What :func:`evaluate_streaming` measured, in sentences built from its numbers."""
    val, test = result["recordings"]["val"], result["recordings"]["test"]
    c, t = result["chosen"], result["test"]
    return (
        f"The model ran every {result['every_ms']:.2f} ms over two continuous recordings "
        f"built from held-out clips: validation speakers ({val['seconds'] / 60:.0f} min, "
        f"{val['wake_words']} wake words, {val['other_words']} other words) and test speakers "
        f"({test['seconds'] / 60:.0f} min, {test['wake_words']} wake words, "
        f"{test['other_words']} other words; every clip played {test['repeats']} time(s)). "
        f"Scores were averaged over the last {result['smoothing']['average_window_ms']:g} ms "
        f"(chosen on the validation recording among "
        f"{', '.join(f'{w:g}' for w in result['window_choice'])} ms) and each detection "
        f"silenced the detector for {result['smoothing']['suppression_ms']} ms. "
        f"On the validation recording, the lowest miss rate with at most "
        f"{result['max_false_per_hour']:g} false activation(s) per hour is at threshold "
        f"**{c['threshold']:.3f}** (miss rate {c['miss_rate']:.1%}, "
        f"{c['false_per_hour']:.1f} false/hour). On the test recording that threshold gives "
        f"a miss rate of **{t['miss_rate']:.1%}** and **{t['false_per_hour']:.1f} false "
        f"activations per hour** ({int(t['false_activations'])} in "
        f"{test['seconds'] / 3600:.2f} h)."
    )
