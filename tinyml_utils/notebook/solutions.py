"""Model answers to the notebooks' exercises (used when a notebook runs with SOLUTIONS=True).

A teacher runs the notebooks with ``SOLUTIONS=True`` (``tinyml run-notebooks --param
SOLUTIONS=True``) to see every exercise solved and checked; students run them with the
default ``SOLUTIONS=False`` and fill in the cells tagged ``exercise`` themselves. The
checkers in :mod:`tinyml_utils.notebook.exercises` test these answers like any other.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyml_utils.deploy.op_resolver import resolver_code as generated
from tinyml_utils.optimize.boards import BOARDS
from tinyml_utils.optimize.search import add_loss


def quantize_input(x, scale, zero_point):
    """00.1: float -> int8 with the input tensor's scale and zero point."""
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def tflm_variants(table) -> set:
    """00.2: the variants whose ``runs_on_tflm`` column says yes."""
    return set(table.loc[table["runs_on_tflm"] == "yes", "variant"])


def mega_spec(spec):
    """00.3: one small conv block and a small dense layer: fewer, smaller activations, and
    fewer nodes, whose structs TFLM keeps in the arena too."""
    return dataclasses.replace(spec, conv_filters=(4,), dense_units=(8,))


def count_windows(n_samples, window, hop):
    """01.1: windows of ``window`` samples every ``hop`` samples, inside the recording."""
    return 0 if n_samples < window else (n_samples - window) // hop + 1


def balanced_accuracy(y_true, y_pred):
    """01.2: mean of the per-class recalls."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def sparsity(weights):
    """06.1: fraction of exact zeros."""
    w = np.asarray(weights)
    return float(np.count_nonzero(w == 0) / w.size)


def smallest_within(table, tolerance, size="int8_bytes", score="accuracy"):
    """06.2 / 07.1: the row name with the smallest ``size`` whose ``score`` is within
    ``tolerance`` of the first row (the baseline)."""
    base = float(table[score].iloc[0])
    ok = table[table[score] >= base - tolerance]
    return ok.sort_values(size, kind="stable").iloc[0].name


def symmetric_int8(w):
    """07.2: symmetric per-tensor int8 (zero point 0): scale = max|w| / 127."""
    w = np.asarray(w, dtype=float)
    scale = float(np.abs(w).max()) / 127 or 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def resolver_code(model) -> str:
    """08.1 / 11.1: written by hand from the op list (here: from the file)."""
    return generated(model, variable="resolver")


def gelu_free(keras, data):
    """08.2: the GELU model with an activation TFLM has a kernel for (relu)."""
    inp = keras.Input(data.input_shape)
    h = keras.layers.Dense(16, activation="relu")(keras.layers.GlobalAveragePooling1D()(inp))
    out = keras.layers.Dense(data.num_classes, activation="softmax")(h)
    return keras.Model(inp, out, name="relu_instead_of_gelu")


def first_conv_macs(tensors, layers) -> int:
    """09.1: output elements x kernel height x kernel width x input channels."""
    out = [
        int(v) for v in str(layers[layers["op"] == "CONV_2D"].iloc[0]["output_shape"]).split("x")
    ]
    in_channels = int(str(tensors.iloc[0]["shape"]).split("x")[-1])  # the model's input
    weights = tensors[tensors["kind"] == "weight"]["shape"].astype(str)
    kernels = [[int(v) for v in s.split("x")] for s in weights if s.count("x") == 3]
    kernel = next(
        k for k in kernels if k[0] == out[-1] and k[-1] == in_channels
    )  # (out, kh, kw, in)
    return int(np.prod(out)) * kernel[1] * kernel[2] * kernel[3]


def smallest_runnable(comparison) -> str:
    """09.2: the smallest file among those TFLM runs."""
    ok = comparison[comparison["tflm_runs"] == True]  # noqa: E712
    return str(ok.sort_values("file_bytes", kind="stable").iloc[0]["model"])


def c_array(data: bytes, name: str) -> str:
    """10.1: what xxd -i writes, plus const and alignas(16)."""
    rows = [
        "  " + ", ".join(f"0x{b:02x}" for b in data[i : i + 12]) for i in range(0, len(data), 12)
    ]
    return (
        f"alignas(16) const unsigned char {name}[] = {{\n"
        + ",\n".join(rows)
        + f"\n}};\nconst unsigned int {name}_len = {len(data)};\n"
    )


# ---- notebooks 02-04


def resample_hold(rows, rate):
    """02.1: at each tick t0, t0 + 1/rate, ... (before the last reading) the latest reading."""
    rows = np.asarray(rows, dtype=float)
    t = rows[:, 0]
    ticks = np.arange(t[0], t[-1], 1.0 / rate)
    return rows[np.searchsorted(t, ticks, side="right") - 1, 1:]


def small_arena_spec(spec):
    """02.2: no convolution block. TFLM keeps each op's node and quantization data in the
    arena, so removing the conv block's ops saves far more than fewer filters would; one
    hidden layer keeps the non-linearity the vehicle band needs."""
    return dataclasses.replace(spec, conv_filters=(), pools=0, dense_units=(8,))


def shortest_window(sweep, tolerance):
    """02.3: the shortest window whose leave-one-user-out score is within ``tolerance`` of
    the default recipe (the sweep's first row)."""
    floor = float(sweep["pooled_balanced_accuracy"].iloc[0]) - tolerance
    ok = sweep[sweep["pooled_balanced_accuracy"] >= floor]
    row = ok.sort_values("window_s", kind="stable").index[0]
    return row.item() if hasattr(row, "item") else row  # a plain int, not np.int64


def false_alarm_rate(y_true, y_pred, positive=1):
    """03.1: among the clips that are not the wake word, the share predicted as it."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_pred[y_true != positive] == positive))


def threshold_for(det_val, max_false_per_hour):
    """03.2: on the VALIDATION table, the lowest miss rate within the false-alarm limit."""
    ok = det_val[det_val["false_per_hour"] <= max_false_per_hour]
    best = ok.sort_values(["miss_rate", "threshold"], ascending=[True, False]).iloc[0]
    return float(best["threshold"])


def feature_shape(seconds, preset):
    """04.1 / 03.3: (frames, bins) of an audio front end. Centred frames (the clip padded by
    n_fft // 2 at both ends): 1 + samples // hop; otherwise every frame lies inside the clip:
    1 + (samples - frame_length) // hop."""
    n = int(round(seconds * preset["sample_rate"]))
    hop, frame = preset["hop_length"], preset.get("frame_length") or preset["n_fft"]
    frames = 1 + n // hop if preset.get("center") else 1 + (n - frame) // hop
    return frames, preset["n_mfcc"] if preset.get("kind") == "mfcc" else preset["n_mels"]


def split_gap(runs, flattering="random track", honest="artist-disjoint"):
    """04.2: the mean accuracy gap in points, and whether the worst flattering run still
    beats the best honest one."""
    acc = runs.groupby("split")["accuracy"]
    gap = 100 * (acc.mean()[flattering] - acc.mean()[honest])
    return float(gap), bool(acc.min()[flattering] > acc.max()[honest])


def worst_classes(y_true, y_pred, class_names):
    """04.3: the class(es) with the lowest recall on the test split."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recall = {class_names[c]: np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)}
    low = min(recall.values())
    return {k for k, v in recall.items() if np.isclose(v, low)}


# ---- notebook 05


def pareto_front(table, accuracy="val_accuracy", size="weights_bytes") -> list:
    """05.1: the candidates that no other one is at least as accurate AND at least as small
    as, while strictly better in one of the two (equal points do not dominate each other)."""
    rows = list(zip(table["candidate"], table[accuracy], table[size], strict=True))
    return [
        name
        for name, a, s in rows
        if not any(a2 >= a and s2 <= s and (a2 > a or s2 < s) for _, a2, s2 in rows)
    ]


def least_accuracy_weight(table, tolerance, step=0.01) -> float | None:
    """05.2: scan w_accuracy upwards; the first whose loss pick is within ``tolerance`` of
    the best validation accuracy (a higher weight never picks a less accurate candidate)."""
    bar = float(table["val_accuracy"].max()) - tolerance
    for w in np.round(np.arange(step, 1 + step / 2, step), 2):
        if float(add_loss(table, w, 1 - w).iloc[0]["val_accuracy"]) >= bar - 1e-9:
            return float(w)
    return None


def boards_for(tflite_bytes, arena_bytes) -> set:
    """05.3: the file must fit the flash and the measured arena the RAM (at most the
    budget); no arena means TFLM does not run the model: no board."""
    if arena_bytes is None:
        return set()
    return {
        key
        for key, board in BOARDS.items()
        if tflite_bytes <= board.flash_bytes and arena_bytes <= board.ram_bytes
    }
