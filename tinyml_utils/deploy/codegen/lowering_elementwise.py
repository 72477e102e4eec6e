"""Lowering of the element-wise and reduction ops (ADD, MEAN, REDUCE_MAX, SOFTMAX, LOGISTIC,
RELU, RELU6, RELU_N1_TO_1): a mixin of :class:`~.lowering.Lowering`, which holds the
convolutions, FULLY_CONNECTED and pooling. Same contract: each method writes its constant
tables through ``self.em`` and returns the kernel call as a template.
"""

from __future__ import annotations

import numpy as np

from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.deploy.codegen.emit import c_float
from tinyml_utils.deploy.codegen.quant import (
    activation_range,
    quant,
    quantize_multiplier,
    round_half_away,
)


class ElementwiseLowering:
    """ADD, reductions, SOFTMAX, LOGISTIC and the RELU family (see the module docstring)."""

    def _add(self, op, tag):
        info = self.info
        t1, t2, tout = (info.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        for t in (t1, t2):
            if t.is_constant:
                raise UnsupportedOnMicroError(f"op {op.index} ADD with a constant operand.")
        s1, z1 = quant(t1)
        s2, z2 = quant(t2)
        so, zo = quant(tout)
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
        si, zi = quant(tin)
        so, zo = quant(tout)
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
        if quant(tin) != quant(tout):
            raise UnsupportedOnMicroError(f"op {op.index} REDUCE_MAX changes quantization.")
        outer, n, inner = self._reduce_view(op)
        body = f"  {outer}, {n}, {inner}, 0, 0, 0, 0"
        p = self.em.struct("tml_reduce_params", tag, body)
        self._layer(op, 0, f"max of {n} x {outer * inner}")
        return f"tml_reduce_max(&{p}, {{in0}}, {{out}});"

    def _softmax(self, op, tag):
        tin, tout = self.info.tensor(op.inputs[0]), self.info.tensor(op.outputs[0])
        si, _ = quant(tin)
        so, zo = quant(tout)
        beta = float(op.options.get("beta", 1.0))
        d = np.arange(256, dtype=np.float64)
        table = np.exp(-beta * float(np.float32(si)) * d).astype(np.float32)
        tarr = self.em.array("float", f"{tag}_exp", table, fmt=c_float)
        depth = int(tin.shape[-1])
        rows = tin.num_elements // depth
        body = f"  {rows}, {depth}, {zo}, {c_float(1.0 / float(np.float32(so)))}, {tarr}"
        p = self.em.struct("tml_softmax_params", tag, body)
        self._layer(op, 0, f"{rows} x {depth}")
        return f"tml_softmax(&{p}, {{in0}}, {{out}});"

    def _logistic(self, op, tag):
        tin, tout = self.info.tensor(op.inputs[0]), self.info.tensor(op.outputs[0])
        si, zi = quant(tin)
        so, zo = quant(tout)
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
        si, zi = quant(tin)
        so, zo = quant(tout)
        real = float(np.float32(si) / np.float32(so))  # TFLite divides the float scales
        mult, shift = quantize_multiplier(real)
        lo = max(-128, zo + round_half_away(float(np.float32(lo_f) / np.float32(so))))
        hi = (
            127
            if hi_f is None
            else min(127, zo + round_half_away(float(np.float32(hi_f) / np.float32(so))))
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
