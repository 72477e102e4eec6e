"""Speech Commands v0.02: one-second 16 kHz clips for wake-word detection.

The task is binary: the wake word (``wake_word="on"``) is class 1, every other clip (other
command words, ``_unknown_`` words, ``_silence_``) is class 0. ``x`` is float32 (N, 16000) in
[-1, 1]; shorter clips are zero-padded at the end, longer ones trimmed.

Two folder layouts are read:

- the **test-set layout** (``speech_commands_test_set_v0.02``, and the shared data):
  ``<word>/<speaker>_nohash_<k>.wav``, ``_unknown_/<word>_<speaker>_nohash_<k>.wav``,
  ``_silence_/<n>.wav``;
- the **full v0.02 layout** (``speech_commands_v0.02``): one folder per word (35 words) and
  ``_background_noise_/*.wav``, long noise recordings that are cut into 1 s silence clips.

Groups are speakers (the 8-hex-digit id before ``_nohash_``). A silence clip has no speaker:
its group is its file (``"_silence_/<file>"``) or, for clips cut from a background-noise
recording, that recording (``"_background_noise_/<file>"``), so one recording never ends up
on both sides of a split. Caveat for the test-set layout: its ``_silence_`` clips were cut
by the dataset's authors from a handful of long noise recordings that are not named, so
clips of one noise recording can fall on both sides. Harmless for the wake-word class (no
speech), but it flatters the "other" class's silence slightly.

The full corpus holds 105k clips (6.7 GB as float32 waveforms): pass ``features=<front-end
parameters>`` to get cached features instead (each clip decoded once, in batches, into a
float16 array on disk: :mod:`tinyml_utils.data.datasets.feature_cache`; about 130 MB for the
full corpus), or ``max_per_word`` / ``max_per_class`` for a deterministic subset. For a
short class, ``variant="test"`` downloads only the 112 MB official test set.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data.datasets import feature_cache
from tinyml_utils.data.datasets.base import (
    Dataset,
    Location,
    check_source,
    download_cache_folder,
    local_source,
    resolve_path,
    warn_clip_lengths,
)
from tinyml_utils.data.datasets.download import Remote, download_dataset

NAME = "speech_commands"
SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
BACKGROUND = "_background_noise_"
#: the 10 command words of the benchmark task, and all 35 words of v0.02
COMMANDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
ALL_WORDS = COMMANDS + [
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward", "four",
    "happy", "house", "learn", "marvin", "nine", "one", "seven", "sheila", "six", "three",
    "tree", "two", "visual", "wow", "zero",
]  # fmt: skip

URL_FULL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
URL_TEST = "http://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz"
REMOTES = {
    "full": (Remote(URL_FULL, "speech_commands_v0.02.tar.gz"),),
    "test": (Remote(URL_TEST, "speech_commands_test_set_v0.02.tar.gz"),),
}

LOCATION = Location(
    name=NAME,
    folder="keyword_spotting",
    layout=(
        "keyword_spotting/<word>/<speaker>_nohash_<k>.wav (e.g. on/022cd682_nohash_0.wav), "
        "optionally _unknown_/<word>_<speaker>_nohash_<k>.wav, _silence_/<n>.wav or "
        "_background_noise_/*.wav; 16 kHz mono WAV"
    ),
    get_it=(
        "`tinyml data download speech_commands` (full v0.02, 2.4 GB) or "
        "`tinyml data download speech_commands --variant test` (test set, 112 MB), from "
        "download.tensorflow.org/data/"
    ),
)

DESCRIPTION = f"""\
Speech Commands v0.02 (Pete Warden, Google): one-second 16 kHz recordings of 35 words spoken
by thousands of speakers, plus background noise. Here: wake-word detection, "on" (1) against
everything else (0). Split by speaker.
License: CC BY 4.0. Cite: Warden, P. "Speech Commands: A Dataset for Limited-Vocabulary
Speech Recognition", arXiv:1804.03209 (2018).
Get it: {LOCATION.get_it}; layout: {LOCATION.layout}."""


def class_names(wake_word: str = "on") -> list[str]:
    """["other", <wake word>]: index 1 is the wake word."""
    if not isinstance(wake_word, str) or not wake_word:
        raise ValueError(f"wake_word must be a word such as 'on', got {wake_word!r}")
    return ["other", wake_word]


# ---------------------------------------------------------------------------------------
# Reading the real files
# ---------------------------------------------------------------------------------------


def _word_dirs(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(
        p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))
    )


def looks_like_speech_commands(path: Path) -> bool:
    """True if ``path`` holds at least one known word, _unknown_, _silence_ or noise folder."""
    known = set(ALL_WORDS) | {SILENCE, UNKNOWN, BACKGROUND}
    return any(p.name in known for p in _word_dirs(path))


def find_root(path: Path) -> Path | None:
    """``path`` or its only sub-folder with the layout (e.g. an extracted speech_commands_v0.02/)."""
    if looks_like_speech_commands(path):
        return path
    matches = [p for p in _word_dirs(path) if looks_like_speech_commands(p)]
    return matches[0] if len(matches) == 1 else None


def speaker_of(file_name: str) -> str | None:
    """The speaker id of "<speaker>_nohash_<k>.wav" or "<word>_<speaker>_nohash_<k>.wav"."""
    if "_nohash_" not in file_name:
        return None
    return file_name.split("_nohash_")[0].rsplit("_", 1)[-1]


def _stable_order(rel_paths: list[str]) -> list[str]:
    """A fixed pseudo-random order (by SHA-1 of the path): subsets spread over speakers."""
    return sorted(rel_paths, key=lambda r: hashlib.sha1(r.encode()).hexdigest())


def read_wav(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A WAV file as float32 mono in [-1, 1]; raises DataError on a wrong sample rate."""
    import soundfile as sf

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataError(
            f"{path}: not a readable WAV file ({exc}). Fix: replace or delete the file."
        ) from exc
    if rate != sample_rate:
        raise DataError(
            f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz. Fix: this loader does not "
            f"resample; use the original files or convert them to {sample_rate} Hz mono first."
        )
    return audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]


def fit_length(audio: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Zero-pad at the end or trim to exactly ``n`` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.pad(audio, (0, n - len(audio)))


def _read_lists(root: Path) -> dict[str, str]:
    partition = {}
    for name, part in (("validation_list.txt", "validation"), ("testing_list.txt", "test")):
        f = root / name
        if f.exists():
            for line in f.read_text(encoding="utf-8").split():
                partition[line.strip()] = part
    return partition


def _index(root: Path) -> list[tuple[str, str, str, str]]:
    """(relative path, word, group, kind) of every clip; kind is "clip" or "noise"."""
    entries = []
    for folder in _word_dirs(root):
        wavs = sorted(f.name for f in folder.iterdir() if f.suffix.lower() == ".wav")
        for name in wavs:
            rel = f"{folder.name}/{name}"
            if folder.name == BACKGROUND:
                entries.append((rel, SILENCE, rel, "noise"))
            elif folder.name == SILENCE:
                entries.append((rel, SILENCE, rel, "clip"))
            elif folder.name == UNKNOWN:
                word = name.split("_", 1)[0]
                entries.append((rel, word, speaker_of(name) or rel, "clip"))
            else:
                entries.append((rel, folder.name, speaker_of(name) or rel, "clip"))
    return entries


def select_clips(
    path: Path,
    wake_word: str = "on",
    max_per_word: int | None = None,
    max_per_class: int | None = None,
) -> list[tuple[str, str, str, int]]:
    """The clips to use: ``(relative path, word, group, k)``, without decoding any audio.

    ``k`` is -1 for a clip file, and for a ``_background_noise_`` recording the index of
    the one-second piece cut from it. ``max_per_word`` / ``max_per_class`` keep a
    deterministic subset (by SHA-1 of the path, so it spreads over speakers).
    """
    import soundfile as sf

    entries = _index(path)
    clips = [e for e in entries if e[3] == "clip"]
    noises = [e for e in entries if e[3] == "noise"]
    if not clips and not noises:
        raise DataError(
            f"{path}: the word folders hold no .wav files. Fix: put the clips there "
            f"({LOCATION.layout})."
        )
    if max_per_word is not None:
        chosen: set[str] = set()
        for word in sorted({e[1] for e in clips}):
            chosen.update(_stable_order([e[0] for e in clips if e[1] == word])[:max_per_word])
        clips = [e for e in clips if e[0] in chosen]
    out = [(rel, word, group, -1) for rel, word, group, _ in clips]
    for rel, word, group, _ in noises:
        n_clips = sf.info(str(path / rel)).frames // CLIP_SAMPLES
        if max_per_word is not None:
            n_clips = min(n_clips, max(1, max_per_word // max(1, len(noises))))
        out += [(rel, word, group, k) for k in range(n_clips)]
    if not any(word == wake_word for _, word, _, _ in out):
        raise DataError(
            f"{path}: no clips of the wake word {wake_word!r} (words found: "
            f"{sorted({e[1] for e in out})[:12]}). Fix: add a {wake_word}/ folder or choose "
            f"another wake_word."
        )
    if max_per_class is not None:
        kept: set[str] = set()
        for is_wake in (False, True):
            names = [clip_name(e) for e in out if (e[1] == wake_word) == is_wake]
            kept.update(_stable_order(names)[:max_per_class])
        out = [e for e in out if clip_name(e) in kept]
    return out


def clip_name(entry: tuple[str, str, str, int]) -> str:
    """ "<folder>/<file>.wav", or "<recording>.wav#k" for the k-th second of a noise recording."""
    rel, _, _, k = entry
    return rel if k < 0 else f"{rel}#{k}"


def read_clip(path: Path, name: str) -> np.ndarray:
    """One clip (float32, exactly 1 s) by its :func:`clip_name`, read from disk."""
    import soundfile as sf

    rel, _, k = name.partition("#")
    if not k:
        return fit_length(read_wav(path / rel))
    audio, rate = sf.read(
        str(path / rel),
        start=int(k) * CLIP_SAMPLES,
        frames=CLIP_SAMPLES,
        dtype="float32",
        always_2d=True,
    )
    if rate != SAMPLE_RATE:
        raise DataError(f"{path / rel}: sample rate {rate} Hz, expected {SAMPLE_RATE} Hz.")
    return fit_length(audio.mean(axis=1))


def clip_samples(path: Path, name: str) -> int:
    """How many samples the file behind a clip name holds (its header only; noise
    recordings are cut into whole seconds, so they count as exactly one clip)."""
    import soundfile as sf

    rel, _, k = name.partition("#")
    if k:
        return CLIP_SAMPLES
    try:
        return int(sf.info(str(path / rel)).frames)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataError(
            f"{path / rel}: not a readable WAV file ({exc}). Fix: replace or delete the file."
        ) from exc


def read_clips(path: str | os.PathLike, names) -> np.ndarray:
    """Clips ``(n, 16000)`` float32 by name (e.g. ``ds.meta["files"]`` of a split)."""
    path = Path(path)
    if len(names) == 0:
        return np.zeros((0, CLIP_SAMPLES), np.float32)
    return np.stack([read_clip(path, str(n)) for n in names]).astype(np.float32)


def read_folder(
    path: str | os.PathLike,
    wake_word: str = "on",
    max_per_word: int | None = None,
    max_per_class: int | None = None,
    progress: bool = True,
    features: dict | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Read the clips under ``path`` (either layout, see the module docstring).

    With ``features`` (a front-end parameter dict, e.g. ``features.AUDIO_PRESETS
    ["keyword_spotting"]``), ``x`` holds those features, float16 ``(N, frames, bins)``,
    read from (or written once to) the feature cache: no waveform is kept
    (:mod:`tinyml_utils.data.datasets.feature_cache`). Without, ``x`` holds the waveforms.
    """
    from tinyml_utils.core.progress import tqdm

    path = Path(path)
    names = class_names(wake_word)
    path = find_root(path) or path
    if not looks_like_speech_commands(path):
        found = [p.name for p in _word_dirs(path)][:8]
        raise DatasetNotFoundError(
            f"{path} does not have the Speech Commands layout (word folders found: {found}). "
            f"Fix: arrange the files as {LOCATION.layout}."
        )
    entries = select_clips(path, wake_word, max_per_word, max_per_class)
    files = [clip_name(e) for e in entries]
    words = np.array([e[1] for e in entries])
    warn_clip_lengths(
        [clip_samples(path, f) for f in files],
        CLIP_SAMPLES,
        SAMPLE_RATE,
        f"speech_commands {path.name}",
    )
    meta = {
        "words": words,
        "files": np.array(files),
        "per_example": ("words", "files"),
        "group_name": "speaker",
        "wake_word": wake_word,
        "vocabulary": sorted(set(words.tolist())),
        "root": str(path),
    }
    if features is not None:
        x, folder = feature_cache.cached_features(
            path, files, features, read_clip, cache_dir=cache_dir, progress=progress
        )
        meta.update(x_kind="features", features=dict(features), cache=str(folder))
    else:
        if len(entries) > 20_000:
            warnings.warn(
                f"loading {len(entries):,} waveforms needs about {len(entries) * 64_000 / 1e9:.1f}"
                f" GB of memory; pass features=... (cached features) or max_per_word=...",
                stacklevel=3,
            )
        x = np.stack(
            [read_clip(path, f) for f in tqdm(files, desc="speech_commands", disable=not progress)]
        ).astype(np.float32)
    partition_of = _read_lists(path)
    if partition_of:
        meta["partition"] = np.array([partition_of.get(e[0], "train") for e in entries])
        meta["per_example"] = ("words", "files", "partition")
    return Dataset(
        name=NAME,
        x=x,
        y=(words == wake_word).astype(np.int64),
        groups=np.array([e[2] for e in entries]),
        class_names=names,
        source=local_source(path),
        description=DESCRIPTION,
        sample_rate=float(SAMPLE_RATE),
        meta=meta,
    )


# ---------------------------------------------------------------------------------------
# Synthetic stand-in
# ---------------------------------------------------------------------------------------


def _formants(vocabulary: list[str]) -> dict[str, tuple[float, float]]:
    """Two fixed 'formant' frequencies per word, far enough apart to be learnable."""
    grid = [(f1, f2) for f1 in (300, 500, 700, 900) for f2 in (1200, 1700, 2300, 2900)]
    rng = np.random.default_rng(1234)
    order = rng.permutation(len(grid))
    return {w: grid[order[i % len(grid)]] for i, w in enumerate(vocabulary)}


def synthetic(
    seed: int = 0,
    wake_word: str = "on",
    n_speakers: int = 12,
    wake_per_speaker: int = 10,
    other_per_speaker: int = 12,
) -> Dataset:
    """A learnable stand-in: 'words' are two-tone bursts whose frequencies depend on the word.

    Each speaker shifts the tones a little and speaks at their own loudness; clips get a
    random onset, length and background noise. ``_silence_`` clips hold noise only.
    Default size: 12 speakers x 22 clips = 264 clips (x is 17 MB).
    """
    names = class_names(wake_word)
    rng = np.random.default_rng(seed)
    others = [w for w in COMMANDS if w != wake_word] + [UNKNOWN, SILENCE]
    vocabulary = [wake_word] + [w for w in others if w not in (UNKNOWN, SILENCE)]
    formants = _formants(vocabulary + ["backward", "bed", "bird", "cat"])
    t = np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    xs, words, groups = [], [], []
    for s in range(n_speakers):
        speaker = f"{rng.integers(0, 2**32):08x}"
        shift = rng.uniform(0.95, 1.05)
        pitch = rng.uniform(100, 220)
        gain = rng.uniform(0.3, 0.8)
        plan = [wake_word] * wake_per_speaker + list(rng.choice(others, other_per_speaker))
        for word in plan:
            noise = rng.normal(0, rng.uniform(0.005, 0.03), CLIP_SAMPLES)
            if word == SILENCE:
                clip, group = noise * 3, f"{SILENCE}/synthetic_{s}_{len(xs)}.wav"
            else:
                label = word
                if word == UNKNOWN:
                    label = str(rng.choice(["backward", "bed", "bird", "cat"]))
                f1, f2 = formants[label]
                length = int(SAMPLE_RATE * rng.uniform(0.4, 0.7))
                start = int(rng.integers(0, CLIP_SAMPLES - length))
                env = np.zeros(CLIP_SAMPLES)
                env[start : start + length] = np.hanning(length)
                tone = (
                    np.sin(2 * np.pi * f1 * shift * t)
                    + 0.6 * np.sin(2 * np.pi * f2 * shift * t)
                    + 0.3 * np.sin(2 * np.pi * pitch * t)
                )
                clip, group = gain * env * tone / 1.9 + noise, speaker
                word = label if word == UNKNOWN else word
            xs.append(np.clip(clip, -1, 1))
            words.append(word)
            groups.append(group)
    y = np.array([1 if w == wake_word else 0 for w in words], dtype=np.int64)
    return Dataset(
        name=NAME,
        x=np.stack(xs).astype(np.float32),
        y=y,
        groups=np.array(groups),
        class_names=names,
        source="synthetic",
        description="Synthetic stand-in for Speech Commands (not real speech).\n" + DESCRIPTION,
        sample_rate=float(SAMPLE_RATE),
        meta={
            "words": np.array(words),
            "per_example": ("words",),
            "group_name": "speaker",
            "wake_word": wake_word,
            "vocabulary": sorted(set(words)),
            "seed": seed,
        },
    )


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------


def download(
    dest: str | os.PathLike | None = None, variant: str = "full", progress: bool = True
) -> Path:
    """Fetch and extract Speech Commands v0.02: variant "full" (2.4 GB) or "test" (112 MB)."""
    if variant not in REMOTES:
        raise ValueError(f"variant must be one of {sorted(REMOTES)}, got {variant!r}")
    folder = Path(dest) if dest is not None else download_cache_folder(LOCATION) / variant
    return download_dataset(REMOTES[variant], folder, progress=progress)


def load(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    wake_word: str = "on",
    max_per_word: int | None = None,
    max_per_class: int | None = None,
    seed: int = 0,
    variant: str = "full",
    progress: bool = True,
    features: dict | None = None,
    cache_dir: str | os.PathLike | None = None,
    **synthetic_options,
) -> Dataset:
    """Speech Commands clips for wake-word detection (see the module docstring).

    ``max_per_word`` / ``max_per_class`` keep a deterministic subset (quick runs, the full
    corpus). ``variant`` ("full", 2.4 GB, or "test", the 112 MB test set for a short class)
    picks the archive for ``source="download"``. ``features`` (a front-end parameter dict)
    returns cached features instead of waveforms for real data (see :func:`read_folder`;
    the synthetic stand-in always holds waveforms). ``seed`` and ``synthetic_options``
    (n_speakers, wake_per_speaker, other_per_speaker) only affect ``source="synthetic"``.
    """
    check_source(source)
    class_names(wake_word)
    options = dict(
        wake_word=wake_word,
        max_per_word=max_per_word,
        max_per_class=max_per_class,
        progress=progress,
        features=features,
        cache_dir=cache_dir,
    )
    if source == "synthetic":
        ds = synthetic(seed=seed, wake_word=wake_word, **synthetic_options)
        if max_per_class is not None:
            keep = np.concatenate([np.flatnonzero(ds.y == c)[:max_per_class] for c in (0, 1)])
            ds = ds.subset(np.sort(keep))
        return ds
    if source == "download":
        ds = read_folder(download(variant=variant, progress=progress), **options)
        ds.source = f"download:{REMOTES[variant][0].url}"
        return ds
    cached = download_cache_folder(LOCATION)

    def looks_right(p: Path) -> bool:
        return find_root(p) is not None

    try:
        path = resolve_path(LOCATION, source, data_dir, looks_right)
    except DatasetNotFoundError:
        # a previous download lives in <cache>/keyword_spotting/<variant>
        if source == "auto" and data_dir is None:
            for v in ("full", "test"):
                if looks_right(cached / v):
                    return read_folder(cached / v, **options)
        raise
    return read_folder(path, **options)
