"""Generate dependency-free C99 for an int8 .tflite model: weights as const arrays, one call
per operator, a static memory plan, and the portable kernels in ``deploy/c/``.

No interpreter, no flatbuffer parsing, no operator registry on the device: every parameter
that TFLite computes when it prepares a model (per-channel multipliers and shifts, padding,
activation ranges, lookup tables) is computed here, in Python, exactly as TFLite's
``Prepare`` functions do, and written into the C file as constants. The device only runs the
integer arithmetic of TFLite's int8 reference kernels (the ones TFLM uses), so the outputs
are bit-identical to TFLite's reference kernels and to TFLM (SOFTMAX and LOGISTIC use a float
/ table formulation: at most 1 off, same top-1).

Supported ops: CONV_2D (also the 1-D convolutions Keras exports as CONV_2D), DEPTHWISE_CONV_2D,
FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE / SQUEEZE / EXPAND_DIMS (no code: the
output shares the input's memory), ADD (with broadcasting), MEAN, REDUCE_MAX, RELU, RELU6,
RELU_N1_TO_1, SOFTMAX, LOGISTIC, with fused activations (RELU, RELU6, RELU_N1_TO_1).

Memory: activations live in one static arena planned like TFLM does (greedy, by lifetime, with
:func:`tinyml_utils.tflite.memory.plan_arena`); the model input is read straight from the
caller's buffer and the output written straight into the caller's buffer::

    from tinyml_utils.deploy.codegen import generate
    g = generate("model_int8.tflite", "carsensor", "build/carsensor_c")
    # -> carsensor_model.h / carsensor_model.c + tinyml_kernels.h / tinyml_kernels.c
    #    void carsensor_invoke(const int8_t *input, int8_t *output);
"""

from __future__ import annotations

import math
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.deploy.c_array import c_identifier
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes

#: Folder of the portable runtime copied next to every generated model.
RUNTIME_DIR = Path(__file__).resolve().parent / "c"
RUNTIME_FILES = ("tinyml_kernels.h", "tinyml_kernels.c", "tinyml_kernels_dsp.h")

ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
#: Ops whose generated output may differ from TFLite's by 1 (float / table formulations).
APPROX_OPS = frozenset({"SOFTMAX", "LOGISTIC"})
SUPPORTED_OPS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "ADD",
        "MEAN",
        "REDUCE_MAX",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "SOFTMAX",
        "LOGISTIC",
    }
    | ALIAS_OPS
)

ARENA_ALIGNMENT = 4


# ----------------------------------------------------------------------------- TFLite's math


def _round_half_away(x: float) -> int:
    """``std::round``: halves go away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ~= m * 2**(shift - 31)`` with m a Q31 int32."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
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
        return int(zero_point) + _round_half_away(float(np.float32(f) / np.float32(scale)))

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


def _same_padding(padding: str, stride: int, dilation: int, in_size: int, k: int, out: int) -> int:
    """TFLite's ``ComputePaddingWithOffset`` (the part the reference kernels use)."""
    if padding != "SAME":
        return 0
    effective = (k - 1) * dilation + 1
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2


# ----------------------------------------------------------------------------- C helpers


def _c_list(values, per_line: int = 16, fmt=str) -> str:
    vals = [fmt(v) for v in np.asarray(values).reshape(-1).tolist()]
    if not vals:
        return "0"
    rows = [", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line)]
    return "\n    " + ",\n    ".join(rows) + "\n"


def _c_int32(v: int) -> str:
    """An int32 constant as C source (wrapped to 32 bits; INT32_MIN without overflow)."""
    v = (int(v) + (1 << 31)) % (1 << 32) - (1 << 31)
    return "(-2147483647 - 1)" if v == -(1 << 31) else str(v)


def _c_float(v: float) -> str:
    f = float(np.float32(v))
    if math.isinf(f):
        return "3.402823466e+38f"
    return f"{f:.9g}f" if ("e" in f"{f:.9g}" or "." in f"{f:.9g}") else f"{f:.9g}.0f"


# ----------------------------------------------------------------------------- results


@dataclass
class TensorSlot:
    """Where a tensor's bytes are at run time: the caller's input/output or the arena."""

    kind: str  # "input" | "output" | "arena"
    offset: int = 0
    size: int = 0


@dataclass
class GeneratedModel:
    """What :func:`generate` produced.

    Attributes:
        name: the C prefix (``<name>_invoke``).
        out_dir, header, source: the generated files; ``files`` includes the runtime.
        ops: the model's ops in execution order (aliases included).
        input_shape, output_shape, input_scale, input_zero_point, output_scale,
        output_zero_point: the model interface.
        arena_bytes: the static activation arena (input and output excluded).
        scratch_bytes: RAM of the DSP (SMLAD) kernels: widened inputs or im2col columns.
        weights_bytes: bytes of constant arrays (weights, biases, multipliers, tables) of
            the portable build; dsp_weights_bytes: the same for the DSP build (weights
            re-arranged, one 20-byte tml_chan record per output channel).
        macs: multiply-accumulates of one inference (conv, depthwise, fully connected).
        approx_output: True when the last op is SOFTMAX/LOGISTIC (outputs may differ by 1).
    """

    name: str
    out_dir: Path
    header: Path
    source: Path
    files: list[Path]
    ops: list[str]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    arena_bytes: int
    scratch_bytes: int
    weights_bytes: int
    dsp_weights_bytes: int
    macs: int
    approx_output: bool
    layers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def output_size(self) -> int:
        return int(np.prod(self.output_shape))


# ----------------------------------------------------------------------------- the generator


class _Emitter:
    """Collects the constant definitions of the generated source.

    Inside ``with em.only("dsp")`` / ``em.only("portable")`` definitions are wrapped in
    ``#if TML_DSP`` / ``#if !TML_DSP``: each build compiles only its own tables, and
    :attr:`const_bytes` counts the bytes each build keeps in flash.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.defs: list[str] = []
        self.const_bytes = {"portable": 0, "dsp": 0}
        self.build: str | None = None  # None: both builds

    @contextmanager
    def only(self, build: str):
        old, self.build = self.build, build
        try:
            yield
        finally:
            self.build = old

    def _add(self, text: str, nbytes: int) -> None:
        for build in ("portable", "dsp"):
            if self.build in (None, build):
                self.const_bytes[build] += nbytes
        if self.build is not None:
            text = f"#if {'' if self.build == 'dsp' else '!'}TML_DSP\n{text}\n#endif"
        self.defs.append(text)

    def array(self, ctype: str, name: str, values, fmt=str, align: bool = False) -> str:
        full = f"{self.prefix}_{name}"
        arr = np.asarray(values).reshape(-1)
        size = {"int8_t": 1, "uint8_t": 1, "int32_t": 4, "uint32_t": 4, "float": 4}[ctype]
        attr = " TML_ALIGN4" if align else ""
        self._add(
            f"static const {ctype} {full}[{max(arr.size, 1)}] TML_FLASH{attr} = {{"
            f"{_c_list(arr, fmt=fmt)}}};",
            size * max(arr.size, 1),
        )
        return full

    def words(self, name: str, words: np.ndarray) -> str:
        """uint32 words (weights packed for the DSP kernels), in hex."""
        return self.array("uint32_t", name, words, fmt=lambda v: f"0x{v:08x}u")

    def chans(self, name: str, rows: list[tuple[int, int, int, int, int]]) -> str:
        """A ``tml_chan`` table: (bias, a, b, c, d) per output channel."""
        full = f"{self.prefix}_{name}"
        body = ",\n".join("  {" + ", ".join(_c_int32(v) for v in row) + "}" for row in rows)
        self._add(f"static const tml_chan {full}[{len(rows)}] = {{\n{body}\n}};", 20 * len(rows))
        return full

    def struct(self, ctype: str, name: str, body: str) -> str:
        full = f"{self.prefix}_{name}"
        self._add(f"static const {ctype} {full} TML_FLASH = {{\n{body}\n}};", 0)
        return full


def _quant(t) -> tuple[float, int]:
    if not len(t.scales):
        raise UnsupportedOnMicroError(
            f"tensor {t.index} ({t.name}) is not quantized: the C generator needs a full-int8 "
            "model; convert with tinyml_utils.tflite.convert.convert(model, 'int8', x)."
        )
    return float(t.scales[0]), int(t.zero_points[0])


def _nhwc(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise UnsupportedOnMicroError(
            f"{what}: expected a batch-1 NHWC tensor, got shape {shape}; export with batch 1."
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def _per_channel(info, op, w, out_channels: int) -> tuple[list[int], list[int]]:
    """Multipliers/shifts per output channel, as TFLite's PopulateConvolutionQuantizationParams."""
    tin, tout = info.tensor(op.inputs[0]), info.tensor(op.outputs[0])
    in_scale, _ = _quant(tin)
    out_scale, _ = _quant(tout)
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


def _double_scales(info, op, w, channels: int) -> tuple[list[int], list[int], list[int]]:
    """Each channel's ``double(in_scale) * double(filter_scale) / double(out_scale)`` written
    exactly as ``mantissa * 2**-exp`` (mantissa < 2**53, split into two 32-bit words)."""
    in_scale, _ = _quant(info.tensor(op.inputs[0]))
    out_scale, _ = _quant(info.tensor(op.outputs[0]))
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


def _fc_per_tensor(info, op, w) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: the input*filter product is taken in float32."""
    in_scale, _ = _quant(info.tensor(op.inputs[0]))
    out_scale, _ = _quant(info.tensor(op.outputs[0]))
    product = np.float32(in_scale) * np.float32(w.scales[0])
    return quantize_multiplier(float(np.float64(product) / np.float64(np.float32(out_scale))))


def _quant_body(em: _Emitter, tag: str, info, op, bias_index: int, mults, shifts, act: str) -> str:
    tin, tout = info.tensor(op.inputs[0]), info.tensor(op.outputs[0])
    _, in_zp = _quant(tin)
    out_scale, out_zp = _quant(tout)
    lo, hi = activation_range(act, out_scale, out_zp)
    bias = "NULL"
    if bias_index is not None and bias_index >= 0:
        bt = info.tensor(bias_index)
        data = bt.data()
        if bt.dtype != "int32":
            raise UnsupportedOnMicroError(
                f"op {op.index} {op.name}: bias type {bt.dtype} (int8 models use int32 biases)."
            )
        bias = em.array("int32_t", f"{tag}_bias", data.astype(np.int64))
    mult = em.array("int32_t", f"{tag}_mult", mults)
    shift = em.array("int8_t", f"{tag}_shift", shifts)
    return f"  {{ {-in_zp}, {out_zp}, {lo}, {hi}, {bias}, {mult}, {shift} }}"


# ----------------------------------------------------------------------------- DSP tables

#: A convolution whose padded input, widened to int16, fits in this many bytes is widened
#: once per layer and its windows are read in place; otherwise two im2col columns are used.
EXPAND_LIMIT_BYTES = 8192

#: Requantization variants of the DSP kernels (TML_RQ_* in tinyml_kernels_dsp.h).
RQ_FAST, RQ_GEMMLOWP, RQ_DOUBLE64, RQ_DOUBLE, RQ_FAST32 = 0, 1, 2, 3, 4
#: How the Cortex-M4 micro-kernel loads inputs (TML_LD_* in tinyml_kernels_dsp.h).
LD_C, LD_LDRD, LD_LDR = 0, 1, 2
RQ_NAMES = {
    RQ_FAST: "1-step requant",
    RQ_GEMMLOWP: "2-step requant",
    RQ_DOUBLE64: "64-bit double requant",
    RQ_DOUBLE: "exact double requant",
    RQ_FAST32: "4-instruction requant",
}
LD_NAMES = {LD_C: "C loop", LD_LDRD: "asm LDRD", LD_LDR: "asm LDR"}


def _bias_data(info, op, n: int) -> np.ndarray:
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


def double_chans(folded, hi, lo, ex) -> tuple[int, list[tuple[int, ...]]]:
    """tml_chan rows for the exact double requantization of per-channel FULLY_CONNECTED.

    ``TML_RQ_DOUBLE64`` when every scale ``mant * 2^-exp`` times 2^64 is an integer below
    2^64 (scales in [2^-12, 1) always are): round(acc * s) is then the high word of
    ``|acc| * (s * 2^64) + 2^63``. Otherwise the general ``TML_RQ_DOUBLE``.
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


def _dsp_or_portable(dsp: str, portable: str) -> str:
    return f"#if TML_DSP\n  {dsp}\n#else\n  {portable}\n#endif"


def _braced(values) -> str:
    """A compound-literal body for str.format templates: ``{{1, 2}}``."""
    return "{{" + ", ".join(str(int(v)) for v in values) + "}}"


class _Lowering:
    """Turns each op into a kernel call with constant parameters."""

    def __init__(self, info, prefix: str):
        self.info = info
        self.em = _Emitter(prefix)
        self.calls: list[tuple[str, list[int], list[int]]] = []  # (template, ins, outs)
        self.scratch_int16 = 0
        self.macs = 0
        self.layers: list[dict[str, Any]] = []

    # each method returns a C call template with {in0} {in1} {out} {scratch} placeholders
    def lower(self, op) -> str | None:
        name = op.name
        if name in ALIAS_OPS:
            return None
        method = getattr(self, "_" + name.lower(), None)
        if method is None:
            raise UnsupportedOnMicroError(
                f"op {op.index} {name} is not supported by the C generator (supported: "
                f"{', '.join(sorted(SUPPORTED_OPS))}). Run this model with TFLM instead "
                "(tinyml export --tflm), or change the layer in the Keras model."
            )
        for i in op.inputs[:1] + op.outputs:
            t = self.info.tensor(i)
            if t.dtype != "int8":
                raise UnsupportedOnMicroError(
                    f"op {op.index} {name}: tensor {t.name} is {t.dtype}; the C generator "
                    "supports full-int8 models only (convert with variant 'int8')."
                )
        return method(op, f"op{op.index}")

    def _conv_2d(self, op, tag):
        info, o = self.info, op.options
        tin, w, tout = (
            info.tensor(op.inputs[0]),
            info.tensor(op.inputs[1]),
            info.tensor(op.outputs[0]),
        )
        in_h, in_w, in_c = _nhwc(tin.shape, f"op {op.index} CONV_2D input")
        out_h, out_w, out_c = _nhwc(tout.shape, f"op {op.index} CONV_2D output")
        oc, k_h, k_w, ic = (int(d) for d in w.shape)
        if ic != in_c:
            raise UnsupportedOnMicroError(f"op {op.index} CONV_2D: grouped convolution.")
        sh, sw = int(o["stride_h"]), int(o["stride_w"])
        dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
        ph = _same_padding(o["padding"], sh, dh, in_h, k_h, out_h)
        pw = _same_padding(o["padding"], sw, dw, in_w, k_w, out_w)
        row_len = k_w * ic
        row_len4 = -(-row_len // 4) * 4
        k_len4 = k_h * row_len4
        w_rows = w.data().reshape(oc, k_h, row_len)
        weights = np.zeros((oc, k_h, row_len4), np.int8)
        weights[:, :, :row_len] = w_rows
        mults, shifts = _per_channel(info, op, w, oc)
        bias = op.inputs[2] if len(op.inputs) > 2 else -1
        act = o["fused_activation_function"]
        with self.em.only("portable"):
            warr = self.em.array("int8_t", f"{tag}_weights", weights, align=True)
            q = _quant_body(self.em, tag, info, op, bias, mults, shifts, act)
            body = (
                f"  {in_h}, {in_w}, {in_c}, {out_h}, {out_w}, {out_c},\n"
                f"  {k_h}, {k_w}, {sh}, {sw}, {dh}, {dw}, {ph}, {pw}, {row_len4}, {k_len4},\n"
                f"  {warr},\n{q}"
            )
            p = self.em.struct("tml_conv_params", tag, body)
        # DSP build: folded bias, one-step requantization
        _, in_zp = _quant(tin)
        out_scale, out_zp = _quant(tout)
        lo, hi = activation_range(act, out_scale, out_zp)
        folded = folded_bias(_bias_data(info, op, oc), w_rows, in_zp)
        bound = acc_bound(_bias_data(info, op, oc), w_rows)
        kind, rows, zp_folded = gemmlowp_chans(folded, mults, shifts, out_zp, bound)
        # A kernel spanning the whole (unpadded) width slides along H only: its window is
        # k_h full rows, contiguous in NHWC memory, i.e. a 1-D convolution along W over
        # in_w * in_c channels (Keras Conv1D exported as (1, T, 1, C) with a (k, 1) kernel).
        # The DSP kernel then gets 4-pixel blocks and one long contiguous window.
        g = dict(ih=in_h, iw=in_w, ic=ic, oh=out_h, ow=out_w, kh=k_h, kw=k_w, sh=sh, sw=sw)
        g.update(dh=dh, dw=dw, ph=ph, pw=pw)
        collapsed = out_w == 1 and k_w == in_w and pw == 0 and dw == 1 and out_h > 1
        if collapsed:
            g = dict(ih=1, iw=in_h, ic=in_w * ic, oh=1, ow=out_h, kh=1, kw=k_h, sh=1, sw=sh)
            g.update(dh=1, dw=dh, ph=0, pw=ph)
        d_row_len = g["kw"] * g["ic"]
        d_row_len4 = -(-d_row_len // 4) * 4
        d_weights = np.zeros((oc, g["kh"], d_row_len4), np.int8)
        d_weights[:, :, :d_row_len] = w.data().reshape(oc, g["kh"], d_row_len)
        d_k_len4 = g["kh"] * d_row_len4
        pad_rows = (g["oh"] - 1) * g["sh"] + (g["kh"] - 1) * g["dh"] + 1
        pad_cols = (g["ow"] - 1) * g["sw"] + (g["kw"] - 1) * g["dw"] + 1
        # DSP input layout: the padded input widened once (rows of row_elems int16 values,
        # even so that rows stay word-aligned), or 4 im2col columns (dilated / too large)
        pos = g["sw"] * g["ic"]  # int16 values between the windows of neighbouring pixels
        row_elems = pad_cols * g["ic"] + (pad_cols * g["ic"]) % 2
        # twin rows (a copy shifted by one value) make odd windows word-aligned for LDRD
        twin = pos % 2 == 1 and 2 * (row_elems - 1 + 3 * pos) <= 1020
        widened = pad_rows * row_elems * (2 if twin else 1) + d_row_len4
        expand = g["dw"] == 1 and 2 * widened <= EXPAND_LIMIT_BYTES
        twin = twin and expand
        with self.em.only("dsp"):
            wd = self.em.array("int8_t", f"{tag}_wd", permute_groups(d_weights), align=True)
            ch = self.em.chans(f"{tag}_ch", rows)
        self.scratch_int16 = max(self.scratch_int16, widened if expand else 4 * d_k_len4)
        # how the Cortex-M4 micro-kernel loads the 4 pixels' inputs: LDRD needs word-aligned
        # windows and byte offsets <= 1020, LDR byte offsets <= 4095
        if expand:
            last = (row_elems - 1 if twin else 0) + 3 * pos
            aligned = pos % 2 == 0 or twin
        else:
            last, aligned = 3 * d_k_len4, True
        if aligned and 2 * last <= 1020:
            ld = LD_LDRD
        elif 2 * last + 4 <= 4095:
            ld = LD_LDR
        else:
            ld = LD_C
        geom = _braced(
            [g["ih"], g["iw"], g["ic"], g["oh"], g["ow"], oc, g["kh"], g["kw"], g["sh"], g["sw"]]
            + [g["dh"], g["dw"], g["ph"], g["pw"], d_row_len4]
            + [int(expand), pad_rows, pad_cols, row_elems, int(twin)]
            + [in_zp, 0 if zp_folded else out_zp, lo, hi, kind, ld]
        )
        macs = out_h * out_w * oc * k_h * row_len
        self._layer(
            op,
            macs,
            f"{k_h}x{k_w}x{ic} -> {oc}, out {out_h}x{out_w}",
            dsp=", ".join(
                (["as 1-D along H"] if collapsed else [])
                + [
                    ("widened input" + (" (twin rows)" if twin else "")) if expand else "im2col",
                    LD_NAMES[ld],
                    RQ_NAMES[kind],
                ]
            ),
        )
        return _dsp_or_portable(
            f"tml_conv_dsp((tml_conv_geom){geom}, {{in0}}, {{out}}, TML_SCRATCH, {wd}, {ch});",
            f"tml_conv2d(&{p}, {{in0}}, {{out}});",
        )

    def _depthwise_conv_2d(self, op, tag):
        info, o = self.info, op.options
        tin, w, tout = (
            info.tensor(op.inputs[0]),
            info.tensor(op.inputs[1]),
            info.tensor(op.outputs[0]),
        )
        in_h, in_w, in_c = _nhwc(tin.shape, f"op {op.index} DEPTHWISE_CONV_2D input")
        out_h, out_w, out_c = _nhwc(tout.shape, f"op {op.index} DEPTHWISE_CONV_2D output")
        _, k_h, k_w, wc = (int(d) for d in w.shape)
        mult = out_c // in_c
        if wc != out_c or mult * in_c != out_c:
            raise UnsupportedOnMicroError(f"op {op.index} DEPTHWISE_CONV_2D: odd channel counts.")
        sh, sw = int(o["stride_h"]), int(o["stride_w"])
        dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
        ph = _same_padding(o["padding"], sh, dh, in_h, k_h, out_h)
        pw = _same_padding(o["padding"], sw, dw, in_w, k_w, out_w)
        warr = self.em.array("int8_t", f"{tag}_weights", w.data().reshape(-1), align=True)
        mults, shifts = _per_channel(info, op, w, out_c)
        bias = op.inputs[2] if len(op.inputs) > 2 else -1
        q = _quant_body(self.em, tag, info, op, bias, mults, shifts, o["fused_activation_function"])
        body = (
            f"  {in_h}, {in_w}, {in_c}, {out_h}, {out_w}, {out_c}, {mult},\n"
            f"  {k_h}, {k_w}, {sh}, {sw}, {dh}, {dw}, {ph}, {pw},\n  {warr},\n{q}"
        )
        p = self.em.struct("tml_dwconv_params", tag, body)
        self._layer(
            op,
            out_h * out_w * out_c * k_h * k_w,
            f"{k_h}x{k_w} x{mult}, out {out_h}x{out_w}x{out_c}",
        )
        return f"tml_depthwise_conv2d(&{p}, {{in0}}, {{out}});"

    def _fully_connected(self, op, tag):
        info, o = self.info, op.options
        tin, w = info.tensor(op.inputs[0]), info.tensor(op.inputs[1])
        if o.get("weights_format", "DEFAULT") != "DEFAULT":
            raise UnsupportedOnMicroError(f"op {op.index} FULLY_CONNECTED: shuffled weights.")
        units, in_len = (int(d) for d in w.shape)
        batches = tin.num_elements // in_len
        in_len4 = -(-in_len // 4) * 4
        w_rows = w.data().reshape(units, in_len)
        weights = np.zeros((units, in_len4), np.int8)
        weights[:, :in_len] = w_rows
        bias = op.inputs[2] if len(op.inputs) > 2 else -1
        act = o["fused_activation_function"]
        folded = folded_bias(_bias_data(info, op, units), w_rows, _quant(tin)[1])
        with self.em.only("portable"):
            warr = self.em.array("int8_t", f"{tag}_weights", weights, align=True)
            exact = "NULL, NULL, NULL"
            if len(w.scales) > 1:
                mults, shifts = _per_channel(info, op, w, units)
                # TFLite's reference per-channel FULLY_CONNECTED rounds acc * scale in double
                hi, lo, ex = _double_scales(info, op, w, units)
                exact = ", ".join(
                    (
                        self.em.array("uint32_t", f"{tag}_mant_hi", hi),
                        self.em.array("uint32_t", f"{tag}_mant_lo", lo),
                        self.em.array("uint8_t", f"{tag}_exp", ex),
                    )
                )
                kind, rows = double_chans(folded, hi, lo, ex)
                zp_folded = False
            else:
                m, s = _fc_per_tensor(info, op, w)
                mults, shifts = [m] * units, [s] * units
                kind, rows, zp_folded = gemmlowp_chans(
                    folded,
                    mults,
                    shifts,
                    _quant(info.tensor(op.outputs[0]))[1],
                    acc_bound(_bias_data(info, op, units), w_rows),
                )
            q = _quant_body(self.em, tag, info, op, bias, mults, shifts, act)
            body = f"  {batches}, {in_len}, {in_len4}, {units},\n  {warr},\n{q},\n  {exact}"
            p = self.em.struct("tml_fc_params", tag, body)
        out_scale, out_zp = _quant(info.tensor(op.outputs[0]))
        act_lo, act_hi = activation_range(act, out_scale, out_zp)
        rows += [(0, 0, 0, 0, 0)] * (-units % 4)
        with self.em.only("dsp"):
            wd = self.em.words(f"{tag}_wd", row4_interleave(permute_groups(weights)))
            ch = self.em.chans(f"{tag}_ch", rows)
        self.scratch_int16 = max(self.scratch_int16, in_len4)
        geom = _braced(
            [batches, in_len, in_len4, units, _quant(tin)[1], 0 if zp_folded else out_zp]
            + [act_lo, act_hi, kind]
        )
        self._layer(
            op,
            batches * units * in_len,
            f"{in_len} -> {units}" + (f" x {batches}" if batches > 1 else ""),
            dsp=RQ_NAMES[kind],
        )
        return _dsp_or_portable(
            f"tml_fc_dsp((tml_fc_geom){geom}, {{in0}}, {{out}}, TML_SCRATCH, {wd}, {ch});",
            f"tml_fully_connected(&{p}, {{in0}}, {{out}});",
        )

    def _pool(self, op, tag, fn):
        info, o = self.info, op.options
        tin, tout = info.tensor(op.inputs[0]), info.tensor(op.outputs[0])
        in_h, in_w, c = _nhwc(tin.shape, f"op {op.index} {op.name} input")
        out_h, out_w, _ = _nhwc(tout.shape, f"op {op.index} {op.name} output")
        if _quant(tin) != _quant(tout):
            raise UnsupportedOnMicroError(
                f"op {op.index} {op.name}: input and output quantization differ."
            )
        fh, fw = int(o["filter_height"]), int(o["filter_width"])
        sh, sw = int(o["stride_h"]), int(o["stride_w"])
        ph = _same_padding(o["padding"], sh, 1, in_h, fh, out_h)
        pw = _same_padding(o["padding"], sw, 1, in_w, fw, out_w)
        lo, hi = activation_range(o["fused_activation_function"], *_quant(tout))
        body = (
            f"  {in_h}, {in_w}, {c}, {out_h}, {out_w}, {fh}, {fw}, {sh}, {sw}, {ph}, {pw},"
            f" {lo}, {hi}"
        )
        self._layer(op, 0, f"{fh}x{fw}/{sh}, out {out_h}x{out_w}x{c}")
        if fn == "tml_max_pool2d" and c % 4 == 0 and (lo, hi) == (-128, 127):
            self.layers[-1]["dsp"] = "4 channels per SSUB8 + SEL"
            # DSP build: 4 channels per SSUB8 + SEL, geometry as compile-time constants
            with self.em.only("portable"):
                p = self.em.struct("tml_pool_params", tag, body)
            geom = "{{" + body.strip() + "}}"
            return _dsp_or_portable(
                f"tml_max_pool_dsp((tml_pool_params){geom}, {{in0}}, {{out}});",
                f"{fn}(&{p}, {{in0}}, {{out}});",
            )
        p = self.em.struct("tml_pool_params", tag, body)
        return f"{fn}(&{p}, {{in0}}, {{out}});"

    def _max_pool_2d(self, op, tag):
        return self._pool(op, tag, "tml_max_pool2d")

    def _average_pool_2d(self, op, tag):
        return self._pool(op, tag, "tml_avg_pool2d")

    def _add(self, op, tag):
        info = self.info
        t1, t2, tout = (info.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        for t in (t1, t2):
            if t.is_constant:
                raise UnsupportedOnMicroError(f"op {op.index} ADD with a constant operand.")
        s1, z1 = _quant(t1)
        s2, z2 = _quant(t2)
        so, zo = _quant(tout)
        if t2.dtype != "int8":
            raise UnsupportedOnMicroError(f"op {op.index} ADD: operand type {t2.dtype}.")
        left_shift = 20
        twice_max = np.float64(np.float32(2.0) * max(np.float32(s1), np.float32(s2)))
        m1, sh1 = quantize_multiplier(float(np.float64(np.float32(s1)) / twice_max))
        m2, sh2 = quantize_multiplier(float(np.float64(np.float32(s2)) / twice_max))
        mo, sho = quantize_multiplier(
            float(twice_max / np.float64(np.float32(1 << left_shift) * np.float32(so)))
        )
        lo, hi = activation_range(op.options["fused_activation_function"], so, zo)
        out_shape = tuple(int(d) for d in tout.shape)
        if len(out_shape) > 4:
            raise UnsupportedOnMicroError(f"op {op.index} ADD: rank {len(out_shape)} > 4.")
        dims = (1,) * (4 - len(out_shape)) + out_shape

        def strides(shape) -> list[int]:
            shape = (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)
            st, acc = [0] * 4, 1
            for a in range(3, -1, -1):
                st[a] = 0 if shape[a] == 1 and dims[a] != 1 else acc
                acc *= shape[a]
            return st

        st1, st2 = strides(t1.shape), strides(t2.shape)
        size = int(np.prod(dims))
        body = (
            f"  {size}, {len(out_shape)}, {{ {', '.join(map(str, dims))} }},\n"
            f"  {{ {', '.join(map(str, st1))} }}, {{ {', '.join(map(str, st2))} }},\n"
            f"  {-z1}, {-z2}, {zo}, {m1}, {m2}, {mo}, {sh1}, {sh2}, {sho}, {left_shift},"
            f" {lo}, {hi}"
        )
        p = self.em.struct("tml_add_params", tag, body)
        self._layer(op, 0, f"{size} elements")
        return f"tml_add(&{p}, {{in0}}, {{in1}}, {{out}});"

    def _reduce_view(self, op) -> tuple[int, int, int]:
        tin = self.info.tensor(op.inputs[0])
        axes_t = self.info.tensor(op.inputs[1])
        shape = [int(d) for d in tin.shape]
        axes = sorted({int(a) % len(shape) for a in np.asarray(axes_t.data()).reshape(-1)})
        if not axes:
            return int(np.prod(shape)), 1, 1
        first, last = axes[0], axes[-1]
        for a in range(first, last + 1):
            if a not in axes and shape[a] != 1:
                raise UnsupportedOnMicroError(
                    f"op {op.index} {op.name} over non-adjacent axes {axes} of {tuple(shape)}."
                )
        outer = int(np.prod(shape[:first]))
        reduce = int(np.prod([shape[a] for a in axes]))
        inner = int(np.prod(shape[last + 1 :]))
        return outer, reduce, inner

    def _mean(self, op, tag):
        tin, tout = self.info.tensor(op.inputs[0]), self.info.tensor(op.outputs[0])
        si, zi = _quant(tin)
        so, zo = _quant(tout)
        outer, n, inner = self._reduce_view(op)
        mult, shift = quantize_multiplier(
            float(np.float64(np.float32(si)) / np.float64(np.float32(so)))
        )
        # TFLite's QuantizedMeanOrSum folds 1/n into the multiplier:
        s = min(n.bit_length() - 1, 32, 31 + shift)
        mult = int((mult << s) // n)
        shift -= s
        body = f"  {outer}, {n}, {inner}, {zi}, {zo}, {mult}, {shift}"
        p = self.em.struct("tml_reduce_params", tag, body)
        self._layer(op, 0, f"mean of {n} x {outer * inner}")
        return f"tml_mean(&{p}, {{in0}}, {{out}});"

    def _reduce_max(self, op, tag):
        tin, tout = self.info.tensor(op.inputs[0]), self.info.tensor(op.outputs[0])
        if _quant(tin) != _quant(tout):
            raise UnsupportedOnMicroError(f"op {op.index} REDUCE_MAX changes quantization.")
        outer, n, inner = self._reduce_view(op)
        body = f"  {outer}, {n}, {inner}, 0, 0, 0, 0"
        p = self.em.struct("tml_reduce_params", tag, body)
        self._layer(op, 0, f"max of {n} x {outer * inner}")
        return f"tml_reduce_max(&{p}, {{in0}}, {{out}});"

    def _softmax(self, op, tag):
        tin, tout = self.info.tensor(op.inputs[0]), self.info.tensor(op.outputs[0])
        si, _ = _quant(tin)
        so, zo = _quant(tout)
        beta = float(op.options.get("beta", 1.0))
        d = np.arange(256, dtype=np.float64)
        table = np.exp(-beta * float(np.float32(si)) * d).astype(np.float32)
        tarr = self.em.array("float", f"{tag}_exp", table, fmt=_c_float)
        depth = int(tin.shape[-1])
        rows = tin.num_elements // depth
        body = f"  {rows}, {depth}, {zo}, {_c_float(1.0 / float(np.float32(so)))}, {tarr}"
        p = self.em.struct("tml_softmax_params", tag, body)
        self._layer(op, 0, f"{rows} x {depth}")
        return f"tml_softmax(&{p}, {{in0}}, {{out}});"

    def _logistic(self, op, tag):
        tin, tout = self.info.tensor(op.inputs[0]), self.info.tensor(op.outputs[0])
        si, zi = _quant(tin)
        so, zo = _quant(tout)
        q = np.arange(-128, 128, dtype=np.float64)
        x = float(np.float32(si)) * (q - zi)
        y = 1.0 / (1.0 + np.exp(-x))
        out = np.clip(np.floor(y / float(np.float32(so)) + 0.5) + zo, -128, 127).astype(np.int8)
        table = np.zeros(256, np.int8)
        table[(q.astype(np.int64) & 0xFF)] = out
        tarr = self.em.array("int8_t", f"{tag}_lut", table)
        body = f"  {tin.num_elements}, {tarr}"
        p = self.em.struct("tml_lut_params", tag, body)
        self._layer(op, 0, f"{tin.num_elements} elements")
        return f"tml_lookup(&{p}, {{in0}}, {{out}});"

    def _relu_like(self, op, tag, lo_f: float, hi_f: float | None):
        tin, tout = self.info.tensor(op.inputs[0]), self.info.tensor(op.outputs[0])
        si, zi = _quant(tin)
        so, zo = _quant(tout)
        real = float(np.float32(si) / np.float32(so))  # TFLite divides the float scales
        mult, shift = quantize_multiplier(real)
        lo = max(-128, zo + _round_half_away(float(np.float32(lo_f) / np.float32(so))))
        hi = (
            127
            if hi_f is None
            else min(127, zo + _round_half_away(float(np.float32(hi_f) / np.float32(so))))
        )
        body = f"  {tin.num_elements}, {zi}, {zo}, {mult}, {shift}, {lo}, {hi}"
        p = self.em.struct("tml_relu_params", tag, body)
        self._layer(op, 0, f"{tin.num_elements} elements")
        return f"tml_relu(&{p}, {{in0}}, {{out}});"

    def _relu(self, op, tag):
        return self._relu_like(op, tag, 0.0, None)

    def _relu6(self, op, tag):
        return self._relu_like(op, tag, 0.0, 6.0)

    def _relu_n1_to_1(self, op, tag):
        return self._relu_like(op, tag, -1.0, 1.0)

    def _layer(self, op, macs: int, detail: str, dsp: str = "") -> None:
        self.macs += macs
        row = {"op_index": op.index, "op": op.name, "macs": macs, "detail": detail}
        if dsp:
            row["dsp"] = dsp
        self.layers.append(row)


class _Storage:
    """Union of tensors that share bytes (RESHAPE and friends alias their input)."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)


def _plan(info, storage: _Storage, calls) -> tuple[dict[int, TensorSlot], int]:
    """Static memory plan: every non-input/output group gets an arena offset."""
    from tinyml_utils.tflite.memory import Buffer, plan_arena

    in_group = storage.find(info.inputs[0])
    out_group = storage.find(info.outputs[0])
    life: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    for step, (_, ins, outs) in enumerate(calls):
        for t in list(ins) + list(outs):
            g = storage.find(t)
            sizes[g] = max(sizes.get(g, 0), info.tensor(t).nbytes)
            span = life.setdefault(g, [step, step])
            span[0], span[1] = min(span[0], step), max(span[1], step)
    slots: dict[int, TensorSlot] = {
        in_group: TensorSlot("input", 0, info.tensor(info.inputs[0]).nbytes),
        out_group: TensorSlot("output", 0, info.tensor(info.outputs[0]).nbytes),
    }
    buffers = [
        Buffer(f"group{g}", sizes[g], life[g][0], life[g][1], tensor=g)
        for g in sorted(life)
        if g not in (in_group, out_group)
    ]
    plan = plan_arena(buffers, alignment=ARENA_ALIGNMENT)
    for b in plan.buffers:
        slots[b.tensor] = TensorSlot("arena", int(b.offset), int(b.size))
    return slots, int(plan.peak)


def _header_comment(info, name: str, g: dict[str, Any]) -> str:
    tin, tout = info.tensor(info.inputs[0]), info.tensor(info.outputs[0])
    lines = [
        f"{name}: int8 inference generated by tinyml_utils.deploy.codegen (do not edit).",
        "ops: " + ", ".join(op.name for op in info.ops),
        f"input  {tuple(tin.shape)} int8, {tin.quantization_text()}",
        f"output {tuple(tout.shape)} int8, {tout.quantization_text()}",
        f"activation arena {g['arena']} bytes (static, planned by lifetime); "
        f"DSP scratch {g['scratch']} bytes (DSP build only: widened inputs / im2col columns)",
        f"constants: {g['consts']['portable']} bytes (portable build), "
        f"{g['consts']['dsp']} bytes (DSP build)",
        f"multiply-accumulates per inference: {g['macs']}",
        "arithmetic: TFLite int8 reference kernels (bit-exact), SOFTMAX/LOGISTIC within 1",
    ]
    return "/*\n" + "\n".join(f" * {line}" for line in lines) + "\n */\n"


def generate(
    model: ModelLike,
    name: str = "model",
    out_dir: str | Path = "generated",
    copy_runtime: bool = True,
) -> GeneratedModel:
    """Write ``<name>_model.h`` / ``<name>_model.c`` (+ the runtime) for ``model`` into ``out_dir``.

    Raises UnsupportedOnMicroError (naming the op and the alternative) for ops, types or
    shapes the generator does not handle.
    """
    from tinyml_utils.tflite.reader import model_info

    data = load_model_bytes(model)
    info = model_info(data)
    prefix = c_identifier(name)
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise UnsupportedOnMicroError(
            f"the model has {len(info.inputs)} inputs and {len(info.outputs)} outputs; the C "
            "generator handles one of each."
        )
    if len(info.subgraphs) > 1:
        raise UnsupportedOnMicroError("control flow (several subgraphs) is not supported.")
    tin, tout = info.tensor(info.inputs[0]), info.tensor(info.outputs[0])
    for t, what in ((tin, "input"), (tout, "output")):
        if t.dtype != "int8":
            raise UnsupportedOnMicroError(
                f"model {what} is {t.dtype}; the C generator needs int8 input and output "
                "(tinyml_utils.tflite.convert.convert(model, 'int8', x))."
            )
    storage = _Storage()
    low = _Lowering(info, prefix)
    calls: list[tuple[str, list[int], list[int]]] = []
    for op in info.ops:
        template = low.lower(op)
        if template is None:  # alias: output shares the input's bytes
            storage.union(op.inputs[0], op.outputs[0])
            continue
        ins = [i for i in op.inputs if i >= 0 and not info.tensor(i).is_constant]
        calls.append((template, ins, list(op.outputs)))
    same = storage.find(tin.index) == storage.find(tout.index)
    slots, arena = _plan(info, storage, calls) if calls else ({}, 0)

    def ptr(t: int) -> str:
        slot = slots[storage.find(t)]
        if slot.kind == "input":
            return "input"
        if slot.kind == "output":
            return "output"
        return f"(arena + {slot.offset})"

    body = []
    for template, ins, outs in calls:
        fields = {f"in{k}": ptr(t) for k, t in enumerate(ins)}
        fields["out"] = ptr(outs[0])
        fields["scratch"] = "TML_SCRATCH"
        call = template.format(**fields)
        body.append("  TML_LAYER_MARK();\n" + (call if call.startswith("#") else "  " + call))
    if same or not calls:
        body.append(f"  tml_copy(input, output, {tin.nbytes});")
    scratch = low.scratch_int16 * 2
    approx = bool(calls) and info.ops[-1].name in APPROX_OPS
    g = {"arena": arena, "scratch": scratch, "consts": low.em.const_bytes, "macs": low.macs}
    up = prefix.upper()
    scratch_decl = "#define TML_SCRATCH NULL\n"
    if scratch:
        scratch_decl = (
            f"#if TML_DSP\nstatic uint32_t {prefix}_scratch[{(scratch + 3) // 4}];\n"
            f"#define TML_SCRATCH {prefix}_scratch\n"
            "#else\n#define TML_SCRATCH NULL\n#endif\n"
        )
    in_scale, in_zp = _quant(tin)
    out_scale, out_zp = _quant(tout)
    header = (
        _header_comment(info, prefix, g)
        + f"""#ifndef {up}_MODEL_H
#define {up}_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {up}_INPUT_SIZE {tin.nbytes}
#define {up}_OUTPUT_SIZE {tout.nbytes}
#define {up}_INPUT_SCALE {_c_float(in_scale)}
#define {up}_INPUT_ZERO_POINT {in_zp}
#define {up}_OUTPUT_SCALE {_c_float(out_scale)}
#define {up}_OUTPUT_ZERO_POINT {out_zp}
#define {up}_ARENA_BYTES {arena}
#define {up}_MACS {low.macs}L

/* One inference: `input` holds {tin.nbytes} int8 values (the quantized model input, NHWC),
 * `output` receives {tout.nbytes} int8 values. Not reentrant (static arena). */
void {prefix}_invoke(const int8_t *input, int8_t *output);

#ifndef TINYML_NO_GENERIC_NAMES
/* Generic names so a firmware main can serve any generated model. */
#define TINYML_MODEL_NAME "{prefix}"
#define TINYML_MODEL_INPUT_SIZE {up}_INPUT_SIZE
#define TINYML_MODEL_OUTPUT_SIZE {up}_OUTPUT_SIZE
#define TINYML_MODEL_MACS {up}_MACS
#define tinyml_model_invoke {prefix}_invoke
#endif

#ifdef __cplusplus
}}
#endif

#endif /* {up}_MODEL_H */
"""
    )
    source = (
        _header_comment(info, prefix, g)
        + f"""#include "{prefix}_model.h"

#include <stddef.h>

#include "tinyml_kernels.h"
#if TML_DSP
#include "tinyml_kernels_dsp.h"
#endif

#if defined(__GNUC__)
#define TML_ALIGN4 __attribute__((aligned(4)))
#else
#define TML_ALIGN4
#endif

"""
        + "\n\n".join(low.em.defs)
        + f"""

static int32_t {prefix}_arena[{max((arena + 3) // 4, 1)}];
{scratch_decl}
void {prefix}_invoke(const int8_t *input, int8_t *output) {{
  int8_t *const arena = (int8_t *){prefix}_arena;
  (void)arena;
{chr(10).join(body)}
}}
"""
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header_path = out / f"{prefix}_model.h"
    source_path = out / f"{prefix}_model.c"
    header_path.write_text(header)
    source_path.write_text(source)
    files = [header_path, source_path]
    if copy_runtime:
        for fname in RUNTIME_FILES:
            shutil.copyfile(RUNTIME_DIR / fname, out / fname)
            files.append(out / fname)
    return GeneratedModel(
        name=prefix,
        out_dir=out,
        header=header_path,
        source=source_path,
        files=files,
        ops=[op.name for op in info.ops],
        input_shape=tuple(int(d) for d in tin.shape),
        output_shape=tuple(int(d) for d in tout.shape),
        input_scale=in_scale,
        input_zero_point=in_zp,
        output_scale=out_scale,
        output_zero_point=out_zp,
        arena_bytes=arena,
        scratch_bytes=scratch,
        weights_bytes=low.em.const_bytes["portable"],
        dsp_weights_bytes=low.em.const_bytes["dsp"],
        macs=low.macs,
        approx_output=approx,
        layers=low.layers,
    )
