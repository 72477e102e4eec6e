"""Checkers for the exercises of the application notebooks 02 (CarSensor), 03 (keyword
spotting) and 04 (music genre).

Same contract as :mod:`tinyml_utils.notebook.exercises` (whose machinery they share): a
checker knows the *properties* of a right answer (it recomputes them from the run's own
objects, or tests the student's function on cases of its own), prints feedback that says
what is wrong and where to look, never raises in student mode, and records the outcome in
``OUTPUT_DIR/results.json``. Start a notebook with ``exercises.start(OUT, SOLUTIONS)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyml_utils.data import features as F
from tinyml_utils.model.cnn import build_cnn, count_weights
from tinyml_utils.model.train import weights_bytes
from tinyml_utils.notebook.exercises import Check, _guarded
from tinyml_utils.tflite.convert import convert
from tinyml_utils.tflite.reader import model_info
from tinyml_utils.tflite.tflm import measure_arena

# --------------------------------------------------------------------------- 02 CarSensor


def _hold(rows: np.ndarray, rate: float) -> np.ndarray:
    """The reference answer, written as a loop: at every tick the latest reading."""
    t = rows[:, 0]
    ticks = np.arange(t[0], t[-1], 1.0 / rate)
    out = np.empty((len(ticks), rows.shape[1] - 1))
    j = 0
    for i, tick in enumerate(ticks):
        while j + 1 < len(t) and t[j + 1] <= tick:
            j += 1
        out[i] = rows[j, 1:]
    return out


def _irregular(rng: np.random.Generator, n: int, channels: int, mean_gap: float) -> np.ndarray:
    """An event-driven recording: (n, 1 + channels), time in seconds first, sorted."""
    gaps = rng.exponential(mean_gap, n - 1) + 0.002
    t = np.concatenate([[rng.uniform(0, 5)], gaps]).cumsum()
    return np.column_stack([t, rng.normal(0, 1, (n, channels)).cumsum(axis=0)])


def check_resample_hold(exercise: str, resample: Callable | None) -> Check:
    """``resample(rows, rate)``: sample-and-hold of an irregular recording at ``rate`` Hz.

    ``rows`` is (n, 1 + channels), time in seconds first, sorted. Ticks at t0, t0 + 1/rate,
    ... before the last reading's time; at each tick the latest reading at or before it.
    """

    def body():
        rng = np.random.default_rng(11)
        cases = [
            (_irregular(rng, 300, 3, 0.1), 5.0),  # ~10 Hz phone, resampled to 5 Hz
            (_irregular(rng, 200, 3, 0.4), 5.0),  # a slow phone: ticks repeat readings
            (_irregular(rng, 120, 1, 0.05), 2.0),
        ]
        exact = np.array([[0.0, 1.0], [0.2, 2.0], [0.45, 3.0], [0.6, 4.0], [1.0, 5.0]])
        cases.append((exact, 5.0))  # ticks that fall exactly on a reading take that reading
        problems = []
        for rows, rate in cases:
            want = _hold(rows, rate)
            got = resample(rows.copy(), rate)
            if got is None:
                return ["resample returned None: replace `return None` with your code"], ""
            got = np.asarray(got, dtype=float)
            if got.ndim == 1 and want.shape[1] == 1:
                got = got[:, None]
            where = f"{len(rows)} readings over {rows[-1, 0] - rows[0, 0]:.1f} s at {rate:g} Hz"
            if got.shape != want.shape:
                problems.append(
                    f"{where}: shape {got.shape}, want {want.shape} (one row per tick t0, "
                    "t0 + 1/rate, ... before the last reading; the time column is not returned)"
                )
                break
            if np.allclose(got, want, atol=1e-5):
                continue
            ticks = np.arange(rows[0, 0], rows[-1, 0], 1.0 / rate)
            linear = np.column_stack(
                [np.interp(ticks, rows[:, 0], rows[:, c]) for c in range(1, rows.shape[1])]
            )
            nearest = rows[np.abs(rows[:, 0][None, :] - ticks[:, None]).argmin(axis=1), 1:]
            bad = int(np.flatnonzero(~np.isclose(got, want, atol=1e-5).all(axis=1))[0])
            if np.allclose(got, linear, atol=1e-5):
                hint = (
                    "that is linear interpolation (np.interp): it mixes two readings, one of "
                    "them from the future. Hold the latest reading instead"
                )
            elif np.allclose(got, nearest, atol=1e-5):
                hint = (
                    "that is the NEAREST reading, which may lie after the tick: a board "
                    "polling its sensor only knows readings up to now. Take the latest one "
                    "at or before the tick (np.searchsorted(t, ticks, side='right') - 1)"
                )
            else:
                hint = "take the latest reading whose time is <= the tick"
            problems.append(
                f"{where}: tick {bad} (t = {ticks[bad]:.3f} s) gives {np.round(got[bad], 3)}, "
                f"want {np.round(want[bad], 3)}: {hint}"
            )
            break
        return problems, (
            "Every tick holds the latest reading, on fast and slow phones alike: the spread "
            "of the values does not depend on the phone's own rate."
        )

    return _guarded(exercise, resample, body)


def _hidden_layers(model) -> int:
    kinds = ("Conv", "Dense")
    return sum(type(layer).__name__.startswith(kinds) for layer in model.layers) - 1


def check_arena_budget(
    exercise: str, spec: Any, data, arena_budget: int, baseline_arena: int | None = None
) -> Check:
    """``spec`` (a CNNSpec) must give an int8 model for ``data`` (same input, same classes,
    at least one hidden layer) whose arena, measured in the TFLM runtime, is at most
    ``arena_budget`` bytes."""

    def body():
        if tuple(spec.input_shape) != tuple(data.input_shape):
            return [f"input {spec.input_shape}, the data's is {data.input_shape}"], ""
        if spec.num_classes != data.num_classes:
            return [f"{spec.num_classes} outputs for {data.num_classes} classes"], ""
        model = build_cnn(spec, seed=0)
        problems = []
        if _hidden_layers(model) < 1:
            problems.append(
                "no hidden layer: a linear model draws a threshold, and a vehicle lies in a "
                "BAND between still and walking (see the figure above). Keep one small layer"
            )
        blob = convert(model, "int8", data.x_train, num_calibration=50)
        arena = measure_arena(blob).arena_bytes
        ops = model_info(blob).op_counts()
        listed = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in ops.items())
        facts = (
            f"`{spec.name()}`: {count_weights(model):,} weights ({weights_bytes(blob):,} B in "
            f"int8), {sum(ops.values())} ops ({listed}), arena {arena:,} B"
        )
        if arena > arena_budget:
            problems.append(
                f"{facts} > the budget of {arena_budget:,} B. Fewer filters shrink only the "
                "activations, a few bytes per filter here; TFLM also keeps every op's node "
                "and quantization data in the arena: fewer ops (layers) save more"
            )
        base = ""
        if baseline_arena:
            base = f" ({baseline_arena - arena:,} B less than the notebook's model)"
        return problems, f"{facts}{base}: within {arena_budget:,} B."

    return _guarded(exercise, spec, body)


# ----------------------------------------------------------------- 03 keyword spotting


def check_false_alarm_rate(
    exercise: str, value: Any, y_true, y_pred, positive: int = 1, word: str = "the wake word"
) -> Check:
    """``value``: the share of the clips of the other classes that are predicted as
    ``positive`` (the false-alarm rate), from the labels and predictions given."""

    def body():
        t, p = np.asarray(y_true), np.asarray(y_pred)
        negatives, positives, fired = t != positive, t == positive, p == positive
        want = float(np.mean(fired[negatives]))
        got = float(value)
        if np.isclose(got, want, atol=5e-4):
            return [], (
                f"{got:.2%}: {int((fired & negatives).sum())} of {int(negatives.sum())} other "
                f"clips taken for {word}. Per hour of audio, that decides how often a device "
                "wakes up for nothing (the streaming section below measures it)."
            )
        others = {
            "the miss rate (wake words not found)": 1 - np.mean(fired[positives]),
            "the share of alarms that are false (1 - precision), not of other clips": (
                np.mean(negatives[fired]) if fired.any() else np.nan
            ),
            "the recall of the other class (1 - the false-alarm rate)": 1 - want,
            "the share of ALL clips that are false alarms, not of the other clips": np.mean(
                fired & negatives
            ),
        }
        hint = next((h for h, v in others.items() if np.isclose(got, v, atol=5e-4)), None)
        return [
            f"{got:.4f} is not the false-alarm rate"
            + (f": that is {hint}" if hint else "")
            + f". Among the clips that are NOT {word}, the fraction predicted as {word}."
        ], ""

    return _guarded(exercise, value, body)


def check_threshold_choice(
    exercise: str,
    threshold: Any,
    det_val,
    det_test,
    max_false_per_hour: float,
    compared_to: dict | None = None,
) -> Check:
    """``threshold``: a row of the VALIDATION DET table ``det_val`` with at most
    ``max_false_per_hour`` false activations per hour and the lowest miss rate among such
    rows (any threshold reaching it is right). Feedback: what it gives on the test speakers."""

    def body():
        t = float(threshold)
        rows = det_val[np.isclose(det_val["threshold"], t, atol=1e-6)]
        if rows.empty:
            return [
                f"{t} is not in the table: pick a value of the 'threshold' column of the "
                "validation DET table (the DET is measured at those thresholds only)"
            ], ""
        row = rows.iloc[0]
        ok = det_val[det_val["false_per_hour"] <= max_false_per_hour]
        problems = []
        if row["false_per_hour"] > max_false_per_hour:
            problems.append(
                f"at {t:.2f} the validation recording has {row['false_per_hour']:.1f} false "
                f"activations per hour > {max_false_per_hour:g}: raise the threshold"
            )
        elif row["miss_rate"] > ok["miss_rate"].min() + 1e-9:
            better = ok.sort_values("miss_rate").iloc[0]
            problems.append(
                f"at {t:.2f} the miss rate is {row['miss_rate']:.1%}; threshold "
                f"{better['threshold']:.2f} also keeps within {max_false_per_hour:g} false/hour "
                f"and misses {better['miss_rate']:.1%}: lower the threshold"
            )
        if problems:
            test_ok = det_test[det_test["false_per_hour"] <= max_false_per_hour]
            test_row = det_test[np.isclose(det_test["threshold"], t, atol=1e-6)]
            if len(test_ok) and len(test_row):
                best_test = test_ok["miss_rate"].min()
                if np.isclose(test_row.iloc[0]["miss_rate"], best_test) and (
                    test_row.iloc[0]["false_per_hour"] <= max_false_per_hour
                ):
                    problems.append(
                        "it is the best threshold on the TEST table: choose on the validation "
                        "speakers, then read the test speakers' figures (choosing on the test "
                        "recording flatters the result)"
                    )
            return problems, ""
        test = det_test[np.isclose(det_test["threshold"], t, atol=1e-6)].iloc[0]
        never = (
            " It never fires: on this recording no threshold both stays within the limit and "
            "detects a wake word: the model needs more training (a quick run trains briefly), not "
            "another threshold."
            if row["miss_rate"] >= 1.0
            else ""
        )
        text = (
            f"threshold {t:.2f}: validation miss rate {row['miss_rate']:.1%} at "
            f"{row['false_per_hour']:.1f} false/hour; on the test speakers "
            f"{test['miss_rate']:.1%} missed, {test['false_per_hour']:.1f} false/hour.{never}"
        )
        if compared_to is not None:
            c = compared_to
            strict = det_val[det_val["false_per_hour"] <= c["max"]]["miss_rate"].min()
            if np.isclose(strict, row["miss_rate"]):
                return [], text + (
                    f" The stricter limit of {c['max']:g}/hour misses as few wake words on the "
                    "validation recording: here the looser limit buys nothing (a longer "
                    "recording, as in the full run, tells the limits apart)."
                )
            text += (
                f" The stricter limit of {c['max']:g}/hour (threshold {c['threshold']:.2f}) "
                f"misses {c['miss_rate']:.1%} on the test speakers: the looser limit "
                f"buys {100 * (c['miss_rate'] - test['miss_rate']):.1f} points of miss rate "
                f"for {test['false_per_hour'] - c['false_per_hour']:.1f} more false "
                "activations per hour."
            )
        return [], text

    return _guarded(exercise, threshold, body)


# ------------------------------------------------------------------- 04 music genre


def check_feature_shape(exercise: str, feature_shape: Callable | None, preset: dict) -> Check:
    """``feature_shape(seconds) -> (frames, bins)`` of the audio front end ``preset`` (MFCC:
    bins = coefficients; log-mel: bins = mel bands), compared with what
    :func:`features.audio_features` computes on clips of its own."""
    hop, n_fft, rate = preset["hop_length"], preset["n_fft"], int(preset["sample_rate"])
    frame = preset.get("frame_length") or n_fft
    bins = "n_mfcc" if preset.get("kind") == "mfcc" else "n_mels"

    def body():
        problems = []
        for seconds in (5.0, 3.0, 1.0, 0.5, 2.37):
            n = int(round(seconds * rate))
            want = tuple(F.audio_features(np.zeros((1, n), np.float32), preset).shape[1:])
            got = feature_shape(seconds)
            if got is None:
                return ["your function returned None: replace `return None` with your code"], ""
            got = tuple(int(v) for v in got)
            if got == want:
                continue
            centred, uncentred = 1 + n // hop, 1 + (n - frame) // hop
            hint = (
                "count the frames as the front end cuts them: a frame of frame_length samples "
                "every hop_length samples, and mind the centring"
            )
            if got == want[::-1]:
                hint = "the order is (frames, bins): time first, as the model reads it"
            elif got[0] == uncentred and preset.get("center"):
                hint = (
                    "the preset centres the frames (center=True): the clip is padded by "
                    "n_fft // 2 samples at each end first, so frames = 1 + samples // hop"
                )
            elif got[0] == centred and not preset.get("center"):
                hint = (
                    "the preset does not centre the frames (center=False): every frame lies "
                    "wholly inside the clip, so the last one starts frame_length samples "
                    "before its end"
                )
            elif got[0] == want[0]:
                hint = f"{got[1]} bins: the preset keeps {bins} = {preset[bins]} of them"
            problems.append(f"{seconds:g} s ({n:,} samples): got {got}, want {want}: {hint}")
            break
        one = F.audio_feature_shape(rate, preset)[0]
        return problems, (
            f"(frames, bins) for any clip length: one second gives {one} frames, a new one "
            f"every {1000 * hop / rate:.2f} ms. A model trained on clips of one length needs "
            "exactly that input on the device, which must buffer that much audio."
        )

    return _guarded(exercise, feature_shape, body)


def check_split_gap(
    exercise: str,
    gap_points: Any,
    beyond_seeds: Any,
    runs,
    flattering: str = "random track",
    honest: str = "artist-disjoint",
) -> Check:
    """``gap_points``: mean test accuracy of the ``flattering`` split minus that of the
    ``honest`` split, in percentage points, from the runs table ``runs``; ``beyond_seeds``:
    True when even the worst ``flattering`` run beats the best ``honest`` run."""

    def body():
        acc = runs.groupby("split")["accuracy"]
        means, lo, hi = acc.mean(), acc.min(), acc.max()
        want = 100 * (means[flattering] - means[honest])
        want_beyond = bool(lo[flattering] > hi[honest])
        got = float(gap_points)
        problems = []
        if not np.isclose(got, want, atol=0.05):
            if np.isclose(100 * got, want, atol=0.05):
                hint = ": that is a fraction; in percentage points multiply by 100"
            elif np.isclose(-got, want, atol=0.05):
                hint = f": the sign is reversed ({flattering} minus {honest})"
            else:
                hint = (
                    f": take the mean accuracy of the {flattering!r} runs minus that of the "
                    f"{honest!r} runs (the 'accuracy' column of runs), times 100"
                )
            problems.append(f"gap {got:.2f} points, want {want:.2f}{hint}")
        if bool(beyond_seeds) != want_beyond:
            problems.append(
                f"the worst {flattering} run scores {lo[flattering]:.1%}, the best {honest} "
                f"run {hi[honest]:.1%}: the gap is "
                + ("" if want_beyond else "NOT ")
                + "larger than the seed-to-seed spread"
            )
        n = int(runs.groupby("split").size().min())
        note = (
            "With one run per split there is no spread to compare with, so this says little: "
            "the full run (3 seeds) and results/music_genre/split_comparison.md (5 seeds) "
            "measure it."
            if n < 2
            else f"Over {n} seeds per split."
        )
        return problems, f"{want:.1f} points; beyond the seeds' spread: {want_beyond}. {note}"

    return _guarded(exercise, gap_points, body)


def check_worst_classes(exercise: str, answer: Any, y_true, y_pred, class_names) -> Check:
    """``answer``: the class name(s) with the lowest recall (ties: all of them) among the
    classes present in ``y_true``, from the labels and predictions given."""

    def body():
        t, p = np.asarray(y_true), np.asarray(y_pred)
        present = [int(c) for c in np.unique(t)]
        recall = {class_names[c]: float(np.mean(p[t == c] == c)) for c in present}
        low = min(recall.values())
        truth = {k for k, v in recall.items() if np.isclose(v, low)}
        got = {answer} if isinstance(answer, str) else set(answer)
        unknown = sorted(got - set(recall))
        if unknown:
            return [f"not a class of the test split: {unknown} (choose among {sorted(recall)})"], ""
        problems = []
        if got != truth:
            said = ", ".join(f"{k} {recall[k]:.0%}" for k in sorted(got))
            precision = {
                class_names[c]: float(np.mean(t[p == c] == c)) if (p == c).any() else 0.0
                for c in present
            }
            low_p = {k for k, v in precision.items() if np.isclose(v, min(precision.values()))}
            hint = (
                "that is the lowest PRECISION (how many of its predictions are right), not "
                "the lowest recall (how many of its tracks are found)"
                if got == low_p
                else "compute each class's recall: its tracks predicted right / its tracks"
            )
            problems.append(f"your answer's recall: {said}; the lowest is {low:.0%}: {hint}")
            if got < truth:
                problems.append(f"{len(truth)} classes tie at the lowest recall: name all")
        best = max(recall, key=recall.get)
        if len(truth) == len(recall):
            return problems, f"every class ties at a recall of {low:.0%}: none is harder here."
        return problems, (
            f"{', '.join(sorted(truth))}: recall {low:.0%}, against {recall[best]:.0%} for "
            f"{best}. The accuracy, {np.mean(t == p):.0%}, averages over all of them."
        )

    return _guarded(exercise, answer, body)
