"""TFLite's fixed-point arithmetic, done offline: what TFLite's ``Prepare`` functions compute
(multipliers and shifts, activation ranges, padding) and the requantization tables of the
DSP kernels (folded biases, one-step roundings proved equal to TFLite's two).

Everything here is plain Python over numbers and numpy arrays: no C text, no files.
"""

from __future__ import annotations

import math

import numpy as np

from tinyml_utils.core.errors import UnsupportedOnMicroError


def round_half_away(x: float) -> int:
    """``std::round``: halves go away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ~= m * 2**(shift - 31)`` with m a Q31 int32."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite's ``CalculateActivationRangeQuantized`` for an int8 output."""
    qmin, qmax = -128, 127

    def quantize(f: float) -> int:  # zero_point + round(f / scale), the division in float32
        return int(zero_point) + round_half_away(float(np.float32(f) / np.float32(scale)))

    if activation in (None, "NONE"):
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise UnsupportedOnMicroError(
        f"fused activation {activation} is not supported by the C generator; use RELU or RELU6 "
        "(or run the model with TFLM)."
    )


def same_padding(padding: str, stride: int, dilation: int, in_size: int, k: int, out: int) -> int:
    """TFLite's ``ComputePaddingWithOffset`` (the part the reference kernels use)."""
    if padding != "SAME":
        return 0
    effective = (k - 1) * dilation + 1
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2


def quant(t) -> tuple[float, int]:
    if not len(t.scales):
        raise UnsupportedOnMicroError(
            f"tensor {t.index} ({t.name}) is not quantized: the C generator needs a full-int8 "
            "model; convert with tinyml_utils.tflite.convert.convert(model, 'int8', x)."
        )
    return float(t.scales[0]), int(t.zero_points[0])


def nhwc(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise UnsupportedOnMicroError(
            f"{what}: expected a batch-1 NHWC tensor, got shape {shape}; export with batch 1."
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def per_channel(info, op, w, out_channels: int) -> tuple[list[int], list[int]]:
    """Multipliers/shifts per output channel, as TFLite's PopulateConvolutionQuantizationParams."""
    tin, tout = info.tensor(op.inputs[0]), info.tensor(op.outputs[0])
    in_scale, _ = quant(tin)
    out_scale, _ = quant(tout)
    scales = np.asarray(w.scales, dtype=np.float32)
    mults, shifts = [], []
    for c in range(out_channels):
        s = scales[c] if len(scales) > 1 else scales[0]
        real = float(np.float64(np.float32(in_scale)) * np.float64(s)) / float(
            np.float64(np.float32(out_scale))
        )
        m, sh = quantize_multiplier(real)
        mults.append(m)
        shifts.append(sh)
    return mults, shifts


def double_scales(info, op, w, channels: int) -> tuple[list[int], list[int], list[int]]:
    """Each channel's ``double(in_scale) * double(filter_scale) / double(out_scale)`` written
    exactly as ``mantissa * 2**-exp`` (mantissa < 2**53, split into two 32-bit words)."""
    in_scale, _ = quant(info.tensor(op.inputs[0]))
    out_scale, _ = quant(info.tensor(op.outputs[0]))
    hi, lo, ex = [], [], []
    for c in range(channels):
        s = np.float64(np.float32(w.scales[c] if len(w.scales) > 1 else w.scales[0]))
        eff = float(np.float64(np.float32(in_scale)) * s / np.float64(np.float32(out_scale)))
        mant, e = math.frexp(eff)  # eff = mant * 2**e, 0.5 <= mant < 1
        m = int(mant * (1 << 53))
        exp = 53 - e
        while m and m % 2 == 0 and exp > 32:
            m //= 2
            exp -= 1
        if not 32 <= exp <= 126:
            raise UnsupportedOnMicroError(
                f"op {op.index} FULLY_CONNECTED: output scale ratio {eff:g} out of range."
            )
        hi.append(m >> 32)
        lo.append(m & 0xFFFFFFFF)
        ex.append(exp)
    return hi, lo, ex


def fc_per_tensor(info, op, w) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: the input*filter product is taken in float32."""
    in_scale, _ = quant(info.tensor(op.inputs[0]))
    out_scale, _ = quant(info.tensor(op.outputs[0]))
    product = np.float32(in_scale) * np.float32(w.scales[0])
    return quantize_multiplier(float(np.float64(product) / np.float64(np.float32(out_scale))))


# ----------------------------------------------------------------------------- DSP tables

#: Requantization variants of the DSP kernels (TML_RQ_* in tinyml_kernels_dsp.h).
RQ_FAST, RQ_GEMMLOWP, RQ_DOUBLE64, RQ_DOUBLE, RQ_FAST32, RQ_DOUBLE_S = 0, 1, 2, 3, 4, 5
RQ_NAMES = {
    RQ_FAST: "1-step requant",
    RQ_GEMMLOWP: "2-step requant",
    RQ_DOUBLE64: "64-bit double requant",
    RQ_DOUBLE: "exact double requant",
    RQ_FAST32: "4-instruction requant",
    RQ_DOUBLE_S: "3-instruction double requant",
}


def bias_data(info, op, n: int) -> np.ndarray:
    """The op's int32 bias as int64 (zeros without a bias input)."""
    index = op.inputs[2] if len(op.inputs) > 2 else -1
    if index is None or index < 0:
        return np.zeros(n, np.int64)
    bt = info.tensor(index)
    if bt.dtype != "int32":
        raise UnsupportedOnMicroError(
            f"op {op.index} {op.name}: bias type {bt.dtype} (int8 models use int32 biases)."
        )
    return np.asarray(bt.data(), np.int64).reshape(-1)


def folded_bias(bias: np.ndarray, weights: np.ndarray, in_zero_point: int) -> np.ndarray:
    """``bias - zp_in * sum(weights of the channel)``: the input offset folded into the bias.

    TFLite computes ``bias + sum((x - zp_in) * w)``, which equals this folded bias plus
    ``sum(x * w)``, so the DSP inner loop multiplies the raw int8 inputs. int32 wrap-around.
    """
    w = np.asarray(weights, np.int64).reshape(len(weights), -1)
    folded = np.asarray(bias, np.int64) - int(in_zero_point) * w.sum(axis=1)
    return (folded + (1 << 31)) % (1 << 32) - (1 << 31)


def acc_bound(bias, weights) -> int:
    """The largest |accumulator| any int8 input can give: |bias| + 255 * sum |w| per channel
    (every input minus its zero point lies in [-255, 255])."""
    w = np.abs(np.asarray(weights, np.int64).reshape(len(weights), -1)).sum(axis=1)
    return int((np.abs(np.asarray(bias, np.int64)) + 255 * w).max()) if len(w) else 0


def gemmlowp_chans(
    folded, mults, shifts, out_zero_point: int = 0, bound: int | None = None
) -> tuple[int, list[tuple[int, ...]], bool]:
    """tml_chan rows for TFLite's MultiplyByQuantizedMultiplier requantization.

    When every channel shifts right (shift <= -1) the two roundings become one
    (``TML_RQ_FAST``, see tinyml_kernels_dsp.h): nudge = 2^30 + 2^(30 + r) as a 64-bit
    (low, high) pair and a final shift of r - 1, r = -shift. If also r <= 22 the output zero
    point is folded into the nudge (``+ zp * 2^(31 + r)``: the final shift then adds it, and
    nothing overflows 64 bits) and the third value returned is True. If moreover ``bound``
    (:func:`acc_bound`) is below 2^30, the 4-instruction ``TML_RQ_FAST32`` form is used:
    K = 2^(r - 1) + zp * 2^r, shift r.
    """
    if all(int(s) <= -1 for s in shifts):
        fold = all(-int(s) <= 22 for s in shifts)
        if fold and bound is not None and bound < (1 << 30):
            rows = []
            for b, m, s in zip(folded, mults, shifts, strict=True):
                r = -int(s)
                rows.append((int(b), int(m), (1 << (r - 1)) + (out_zero_point << r), 0, r))
            return RQ_FAST32, rows, True
        rows = []
        for b, m, s in zip(folded, mults, shifts, strict=True):
            r = -int(s)
            nudge = (1 << 30) + (1 << (30 + r)) + (out_zero_point << (31 + r) if fold else 0)
            rows.append((int(b), int(m), nudge & 0xFFFFFFFF, nudge >> 32, r - 1))
        return RQ_FAST, rows, fold
    rows = [(int(b), int(m), 0, 0, int(s)) for b, m, s in zip(folded, mults, shifts, strict=True)]
    return RQ_GEMMLOWP, rows, False


def no_tie(s64: int, bound: int) -> bool:
    """True when no accumulator with |acc| <= bound makes acc * s64 / 2^64 an exact half
    (acc * s64 = 2^63 mod 2^64 needs 2-adic valuations v(acc) + v(s64) = 63 exactly, and
    v(acc) <= log2(bound)): rounding halves up or away from zero then agree."""
    if s64 == 0:
        return True
    v = (s64 & -s64).bit_length() - 1
    return v > 63 or 63 - v > max(int(bound), 1).bit_length() - 1


def double_chans(folded, hi, lo, ex, bound: int | None = None) -> tuple[int, list[tuple[int, ...]]]:
    """tml_chan rows for the exact double requantization of per-channel FULLY_CONNECTED.

    ``TML_RQ_DOUBLE64`` when every scale ``mant * 2^-exp`` times 2^64 is an integer below
    2^64 (scales in [2^-12, 1) always are): round(acc * s) is then the high word of
    ``|acc| * (s * 2^64) + 2^63``. ``TML_RQ_DOUBLE_S`` (signed, no sign juggling) when
    moreover every s * 2^64 < 2^63 - 2^31 and ``bound`` (:func:`acc_bound`) rules out exact
    ties (:func:`no_tie`): rows (bias, Sl, Sh) with s * 2^64 = Sh * 2^32 + Sl, Sl signed.
    Otherwise the general ``TML_RQ_DOUBLE``.
    """
    m64 = []
    for h, low, e in zip(hi, lo, ex, strict=True):
        mant = (int(h) << 32) | int(low)
        if e <= 64:
            v = mant << (64 - e)
        elif mant % (1 << (e - 64)) == 0:
            v = mant >> (e - 64)
        else:
            v = None
        m64.append(v if v is not None and v < (1 << 64) else None)
    if all(v is not None for v in m64):
        signed = bound is not None and bound < (1 << 31)
        if signed and all(v < (1 << 63) - (1 << 31) and no_tie(v, bound) for v in m64):
            rows = []
            for b, v in zip(folded, m64, strict=True):
                sl = v & 0xFFFFFFFF
                sl -= (1 << 32) if sl >= (1 << 31) else 0
                rows.append((int(b), sl, (v - sl) >> 32, 0, 0))
            return RQ_DOUBLE_S, rows
        rows = [(int(b), 0, v & 0xFFFFFFFF, v >> 32, 0) for b, v in zip(folded, m64, strict=True)]
        return RQ_DOUBLE64, rows
    rows = [
        (int(b), int(h), int(low), int(e), 0)
        for b, h, low, e in zip(folded, hi, lo, ex, strict=True)
    ]
    return RQ_DOUBLE, rows


def permute_groups(weights: np.ndarray) -> np.ndarray:
    """Store every group of 4 values (last axis) as w0 w2 w1 w3: SXTB16 of such a word gives
    the int16 pair (w0, w1) and SXTB16 ROR #8 gives (w2, w3), the natural pairs of inputs."""
    w = np.asarray(weights, np.int8)
    return w.reshape(*w.shape[:-1], -1, 4)[..., [0, 2, 1, 3]].reshape(w.shape)


def row4_interleave(weights: np.ndarray) -> np.ndarray:
    """(rows, len4) int8 -> uint32 words interleaving blocks of 4 rows (tml_fc_dsp): word
    (b, j, r) = values 4j..4j+3 of row 4b+r; rows padded to a multiple of 4 with zeros."""
    n_rows, len4 = weights.shape
    r4 = -(-n_rows // 4) * 4
    padded = np.zeros((r4, len4), np.int8)
    padded[:n_rows] = weights
    return (
        padded.reshape(r4 // 4, 4, len4 // 4, 4)
        .transpose(0, 2, 1, 3)
        .copy()
        .view("<u4")
        .reshape(-1)
    )


def row4_pairs(weights: np.ndarray) -> np.ndarray:
    """(rows, len) int8 -> uint32 words of int16 pairs for tml_fc16_dsp, blocks of 4 rows
    (the last block: the remaining rows).

    The pairs are in SXTB16 order, as the kernel widens its input: per group of 4 values
    (w0, w2) and (w1, w3), the first value in the low half; a last group of one value is the
    single word (w, 0), of two or three values zero-padded to a full group. Per block: for
    each group, row 0's words, row 1's, ...; then the single words, one per row.
    """
    n_rows, length = weights.shape
    full = length // 4 if length % 4 == 1 else -(-length // 4)
    padded = np.zeros((n_rows, 4 * full + 4), np.int16)
    padded[:, :length] = weights
    quads = padded[:, : 4 * full].reshape(n_rows, full, 4)[:, :, [0, 2, 1, 3]]
    pairs = np.ascontiguousarray(quads).view("<u4").reshape(n_rows, full, 2)  # (row, group, 2)
    last = np.ascontiguousarray(padded[:, 4 * full : 4 * full + 2]).view("<u4").reshape(-1)
    out = []
    for r0 in range(0, n_rows, 4):
        out.append(pairs[r0 : r0 + 4].transpose(1, 0, 2).reshape(-1))
        if length % 4 == 1:
            out.append(last[r0 : r0 + 4])
    return np.concatenate(out) if out else np.zeros(0, np.uint32)


def fc16_padded_length(length: int) -> int:
    """int16 input values tml_fc16_dsp reads: 4 per group, 2 for a last group of one value."""
    return length // 4 * 4 + 2 if length % 4 == 1 else -(-length // 4) * 4
