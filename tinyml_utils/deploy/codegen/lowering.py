"""Op lowering: each TFLite op becomes one kernel call with constant parameters.

:class:`Lowering` reads an op (shapes, options, quantization), computes every parameter TFLite
computes when it prepares the op (:mod:`.quant`), writes the constant tables through an
:class:`~.emit.Emitter` and returns the C call as a template with ``{in0}``, ``{in1}`` and
``{out}`` placeholders for the memory plan to fill. CONV_2D and FULLY_CONNECTED get two
calls: the portable kernel (``tinyml_kernels.c``) and the Cortex-M4 DSP kernel
(``tinyml_kernels_dsp.h``), chosen by ``#if TML_DSP``; the DSP call sits in a function of
its own per layer (:meth:`~.emit.Emitter.out_of_line`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.deploy.codegen.emit import (
    Emitter,
    braced,
    dsp_or_portable,
    quant_body,
)
from tinyml_utils.deploy.codegen.lowering_elementwise import ElementwiseLowering
from tinyml_utils.deploy.codegen.plan import band_chunk
from tinyml_utils.deploy.codegen.quant import (
    RQ_NAMES,
    acc_bound,
    activation_range,
    bias_data,
    double_chans,
    double_scales,
    fc16_padded_length,
    fc_per_tensor,
    folded_bias,
    gemmlowp_chans,
    nhwc,
    per_channel,
    permute_groups,
    quant,
    row4_interleave,
    row4_pairs,
    same_padding,
)

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

#: A convolution whose padded input, widened to int16, fits in this many bytes is widened
#: once per layer and its windows are read in place; otherwise two im2col columns are used.
EXPAND_LIMIT_BYTES = 8192

#: A FULLY_CONNECTED whose weights, widened to int16, fit in this many bytes keeps them
#: widened in flash (tml_fc16_dsp: no sign extension in the inner loop, ~20% fewer cycles);
#: larger layers keep int8 weights (tml_fc_dsp).
FC_WIDE_LIMIT_BYTES = 32768

#: How the Cortex-M4 micro-kernel loads inputs (TML_LD_* in tinyml_kernels_dsp.h).
LD_C, LD_LDRD, LD_LDR = 0, 1, 2
LD_NAMES = {LD_C: "C loop", LD_LDRD: "asm LDRD", LD_LDR: "asm LDR"}


class Lowering(ElementwiseLowering):
    """Turns each op into a kernel call with constant parameters (element-wise ops: the
    :class:`~.lowering_elementwise.ElementwiseLowering` mixin)."""

    def __init__(
        self,
        info,
        prefix: str,
        expand_limit: int = EXPAND_LIMIT_BYTES,
        fc_wide_limit: int = FC_WIDE_LIMIT_BYTES,
    ):
        self.info = info
        self.expand_limit = expand_limit
        self.fc_wide_limit = fc_wide_limit
        self.em = Emitter(prefix)
        self.calls: list[tuple[str, list[int], list[int]]] = []  # (template, ins, outs)
        self.scratch_int16 = 0
        self.macs = 0
        self.layers: list[dict[str, Any]] = []

    def fusable_pool(self, position: int):
        """The MAX_POOL_2D that can be computed inside the CONV_2D at ``position`` of the op
        list (its output never stored), or None.

        Fused when the pool is the next op and the convolution's only reader, VALID with
        stride = window (every conv value in at most one window), without a clamp, on a
        multiple of 4 channels (the DSP build pools 4 channels per instruction).
        """
        ops = self.info.ops
        if position + 1 >= len(ops) or ops[position].name != "CONV_2D":
            return None
        conv, pool = ops[position], ops[position + 1]
        t = conv.outputs[0]
        readers = sum(i == t for o in ops for i in o.inputs)
        if pool.name != "MAX_POOL_2D" or pool.inputs[0] != t or readers != 1:
            return None
        if t in self.info.outputs or len(self.info.tensor(t).shape) != 4:
            return None
        o = pool.options
        fh, fw = int(o["filter_height"]), int(o["filter_width"])
        if (int(o["stride_h"]), int(o["stride_w"])) != (fh, fw):
            return None
        tin, tout = self.info.tensor(t), self.info.tensor(pool.outputs[0])
        _, in_h, in_w, c = (int(d) for d in tin.shape)
        _, out_h, out_w, _ = (int(d) for d in tout.shape)
        if (out_h, out_w) != (in_h // fh, in_w // fw) or c % 4 or tout.dtype != "int8":
            return None
        if quant(tin) != quant(tout) or o["fused_activation_function"] not in (None, "NONE"):
            return None
        return pool

    # each method returns a C call template with {in0} {in1} {out} {scratch} placeholders
    def lower(self, op, pool=None) -> str | None:
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
        if pool is not None:
            return self._conv_2d(op, f"op{op.index}", pool)
        return method(op, f"op{op.index}")

    def _conv_2d(self, op, tag, pool=None):
        info, o = self.info, op.options
        tin, w, tout = (
            info.tensor(op.inputs[0]),
            info.tensor(op.inputs[1]),
            info.tensor(op.outputs[0]),
        )
        in_h, in_w, in_c = nhwc(tin.shape, f"op {op.index} CONV_2D input")
        out_h, out_w, out_c = nhwc(tout.shape, f"op {op.index} CONV_2D output")
        oc, k_h, k_w, ic = (int(d) for d in w.shape)
        if ic != in_c:
            raise UnsupportedOnMicroError(f"op {op.index} CONV_2D: grouped convolution.")
        sh, sw = int(o["stride_h"]), int(o["stride_w"])
        dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
        ph = same_padding(o["padding"], sh, dh, in_h, k_h, out_h)
        pw = same_padding(o["padding"], sw, dw, in_w, k_w, out_w)
        row_len = k_w * ic
        row_len4 = -(-row_len // 4) * 4
        k_len4 = k_h * row_len4
        w_rows = w.data().reshape(oc, k_h, row_len)
        weights = np.zeros((oc, k_h, row_len4), np.int8)
        weights[:, :, :row_len] = w_rows
        mults, shifts = per_channel(info, op, w, oc)
        bias = op.inputs[2] if len(op.inputs) > 2 else -1
        act = o["fused_activation_function"]
        with self.em.only("portable"):
            warr = self.em.array("int8_t", f"{tag}_weights", weights, align=True)
            q = quant_body(self.em, tag, info, op, bias, mults, shifts, act)
            body = (
                f"  {in_h}, {in_w}, {in_c}, {out_h}, {out_w}, {out_c},\n"
                f"  {k_h}, {k_w}, {sh}, {sw}, {dh}, {dw}, {ph}, {pw}, {row_len4}, {k_len4},\n"
                f"  {warr},\n{q}"
            )
            p = self.em.struct("tml_conv_params", tag, body)
        # DSP build: folded bias, one-step requantization
        _, in_zp = quant(tin)
        out_scale, out_zp = quant(tout)
        lo, hi = activation_range(act, out_scale, out_zp)
        folded = folded_bias(bias_data(info, op, oc), w_rows, in_zp)
        bound = acc_bound(bias_data(info, op, oc), w_rows)
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
        fuse = None
        used_h, used_w = g["oh"], g["ow"]
        if pool is not None:  # the pool's window in the DSP geometry (1-D: along W)
            po = pool.options
            pfh, pfw = int(po["filter_height"]), int(po["filter_width"])
            fuse = dict(fh=pfh, fw=pfw, oh=out_h // pfh, ow=out_w // pfw)
            if collapsed:
                fuse = dict(fh=1, fw=pfh, oh=1, ow=out_h // pfh)
            # rows and columns no pooling window covers are neither computed nor widened
            used_h, used_w = fuse["oh"] * fuse["fh"], fuse["ow"] * fuse["fw"]
        pad_rows = (used_h - 1) * g["sh"] + (g["kh"] - 1) * g["dh"] + 1
        pad_cols = (used_w - 1) * g["sw"] + (g["kw"] - 1) * g["dw"] + 1
        # DSP input layout: the padded input widened once (rows of row_elems int16 values,
        # even so that rows stay word-aligned), or 4 im2col columns (dilated / too large)
        pos = g["sw"] * g["ic"]  # int16 values between the windows of neighbouring pixels
        row_elems = pad_cols * g["ic"] + (pad_cols * g["ic"]) % 2
        # twin rows (a copy shifted by one value) make odd windows word-aligned for LDRD
        twin = pos % 2 == 1 and 2 * (row_elems - 1 + 3 * pos) <= 1020
        # pooled on the fly in several bands of rows: only one band's padded rows widened
        band_rows = 0
        if fuse is not None and fuse["oh"] > 1:
            band_rows = (fuse["fh"] - 1) * g["sh"] + (g["kh"] - 1) * g["dh"] + 1
        widened = (band_rows or pad_rows) * row_elems * (2 if twin else 1) + d_row_len4
        expand = g["dw"] == 1 and 2 * widened <= self.expand_limit
        twin = twin and expand
        if fuse is not None:
            fuse["rows"] = band_rows if expand else 0
        with self.em.only("dsp"):
            wd = self.em.array("int8_t", f"{tag}_wd", permute_groups(d_weights), align=True)
            ch = self.em.chans(f"{tag}_ch", rows)
        scratch = widened if expand else 4 * d_k_len4  # int16 values
        if fuse is not None:
            fuse["band"] = -(-2 * scratch // 4) * 4  # byte offset, word-aligned
            fuse["chunk"] = band_chunk(fuse["fh"], used_w, fuse["fw"], oc)
            scratch = (fuse["band"] + fuse["fh"] * fuse["chunk"] * oc + 1) // 2
        self.scratch_int16 = max(self.scratch_int16, scratch)
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
        geom = braced(
            [g["ih"], g["iw"], g["ic"], g["oh"], g["ow"], oc, g["kh"], g["kw"], g["sh"], g["sw"]]
            + [g["dh"], g["dw"], g["ph"], g["pw"], d_row_len4]
            + [int(expand), pad_rows, pad_cols, row_elems, int(twin)]
            + [in_zp, 0 if zp_folded else out_zp, lo, hi, kind, ld]
        )
        macs = out_h * out_w * oc * k_h * row_len
        detail = f"{k_h}x{k_w}x{ic} -> {oc}, out {out_h}x{out_w}"
        variant = (["as 1-D along H"] if collapsed else []) + [
            ("widened input" + (" (twin rows)" if twin else "")) if expand else "im2col",
            LD_NAMES[ld],
            RQ_NAMES[kind],
        ]
        if pool is None:
            self._layer(op, macs, detail, dsp=", ".join(variant))
            return dsp_or_portable(
                self.em.out_of_line(
                    f"{tag}_dsp",
                    f"tml_conv_dsp((tml_conv_geom){geom}, {{in0}}, {{out}}, TML_SCRATCH, {wd},"
                    f" {ch});",
                ),
                f"tml_conv2d(&{p}, {{in0}}, {{out}});",
            )
        pfh, pfw = int(pool.options["filter_height"]), int(pool.options["filter_width"])
        pout_h, pout_w = out_h // pfh, out_w // pfw
        with self.em.only("portable"):
            pp = self.em.struct(
                "tml_pool_params",
                f"op{pool.index}",
                f"  {out_h}, {out_w}, {oc}, {pout_h}, {pout_w}, {pfh}, {pfw}, {pfh}, {pfw}, 0, 0,"
                " -128, 127",
            )
        fgeom = braced([fuse[k] for k in ("fh", "fw", "oh", "ow", "chunk", "band", "rows")])
        self._layer(
            op,
            macs,
            f"{detail}, + max pool {pfh}x{pfw}/{pfh} -> {pout_h}x{pout_w}x{oc}",
            dsp=", ".join(
                variant + ["max pool on the fly" + (", banded rows" if fuse["rows"] else "")]
            ),
        )
        return dsp_or_portable(
            self.em.out_of_line(
                f"{tag}_dsp",
                f"tml_conv_pool_dsp((tml_conv_geom){geom}, (tml_fuse_geom){fgeom}, {{in0}},"
                f" {{out}}, TML_SCRATCH, {wd}, {ch});",
            ),
            f"tml_conv2d_max_pool(&{p}, &{pp}, {{in0}}, {{out}});",
        )

    def _depthwise_conv_2d(self, op, tag):
        info, o = self.info, op.options
        tin, w, tout = (
            info.tensor(op.inputs[0]),
            info.tensor(op.inputs[1]),
            info.tensor(op.outputs[0]),
        )
        in_h, in_w, in_c = nhwc(tin.shape, f"op {op.index} DEPTHWISE_CONV_2D input")
        out_h, out_w, out_c = nhwc(tout.shape, f"op {op.index} DEPTHWISE_CONV_2D output")
        _, k_h, k_w, wc = (int(d) for d in w.shape)
        mult = out_c // in_c
        if wc != out_c or mult * in_c != out_c:
            raise UnsupportedOnMicroError(f"op {op.index} DEPTHWISE_CONV_2D: odd channel counts.")
        sh, sw = int(o["stride_h"]), int(o["stride_w"])
        dh, dw = int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1))
        ph = same_padding(o["padding"], sh, dh, in_h, k_h, out_h)
        pw = same_padding(o["padding"], sw, dw, in_w, k_w, out_w)
        warr = self.em.array("int8_t", f"{tag}_weights", w.data().reshape(-1), align=True)
        mults, shifts = per_channel(info, op, w, out_c)
        bias = op.inputs[2] if len(op.inputs) > 2 else -1
        q = quant_body(self.em, tag, info, op, bias, mults, shifts, o["fused_activation_function"])
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
        folded = folded_bias(bias_data(info, op, units), w_rows, quant(tin)[1])
        with self.em.only("portable"):
            warr = self.em.array("int8_t", f"{tag}_weights", weights, align=True)
            exact = "NULL, NULL, NULL"
            if len(w.scales) > 1:
                mults, shifts = per_channel(info, op, w, units)
                # TFLite's reference per-channel FULLY_CONNECTED rounds acc * scale in double
                hi, lo, ex = double_scales(info, op, w, units)
                exact = ", ".join(
                    (
                        self.em.array("uint32_t", f"{tag}_mant_hi", hi),
                        self.em.array("uint32_t", f"{tag}_mant_lo", lo),
                        self.em.array("uint8_t", f"{tag}_exp", ex),
                    )
                )
                bound = acc_bound(bias_data(info, op, units), w_rows)
                kind, rows = double_chans(folded, hi, lo, ex, bound)
                zp_folded = False
            else:
                m, s = fc_per_tensor(info, op, w)
                mults, shifts = [m] * units, [s] * units
                kind, rows, zp_folded = gemmlowp_chans(
                    folded,
                    mults,
                    shifts,
                    quant(info.tensor(op.outputs[0]))[1],
                    acc_bound(bias_data(info, op, units), w_rows),
                )
            q = quant_body(self.em, tag, info, op, bias, mults, shifts, act)
            body = f"  {batches}, {in_len}, {in_len4}, {units},\n  {warr},\n{q},\n  {exact}"
            p = self.em.struct("tml_fc_params", tag, body)
        out_scale, out_zp = quant(info.tensor(op.outputs[0]))
        act_lo, act_hi = activation_range(act, out_scale, out_zp)
        rows += [(0, 0, 0, 0, 0)] * (-units % 4)
        # int16 weights (widened offline) while they fit fc_wide_limit bytes, else int8
        in_len16 = fc16_padded_length(in_len)
        wide = 2 * units * in_len16 <= self.fc_wide_limit
        with self.em.only("dsp"):
            if wide:
                wd = self.em.words(f"{tag}_wd", row4_pairs(w_rows))
            else:
                wd = self.em.words(f"{tag}_wd", row4_interleave(permute_groups(weights)))
            ch = self.em.chans(f"{tag}_ch", rows)
        padded = in_len16 if wide else in_len4
        self.scratch_int16 = max(self.scratch_int16, padded)
        geom = braced(
            [batches, in_len, padded, units, quant(tin)[1], 0 if zp_folded else out_zp]
            + [act_lo, act_hi, kind]
        )
        self._layer(
            op,
            batches * units * in_len,
            f"{in_len} -> {units}" + (f" x {batches}" if batches > 1 else ""),
            dsp=("int16 weights, " if wide else "") + RQ_NAMES[kind],
        )
        fn = "tml_fc16_dsp" if wide else "tml_fc_dsp"
        return dsp_or_portable(
            self.em.out_of_line(
                f"{tag}_dsp",
                f"{fn}((tml_fc_geom){geom}, {{in0}}, {{out}}, TML_SCRATCH, {wd}, {ch});",
            ),
            f"tml_fully_connected(&{p}, {{in0}}, {{out}});",
        )

    def _pool(self, op, tag, fn):
        info, o = self.info, op.options
        tin, tout = info.tensor(op.inputs[0]), info.tensor(op.outputs[0])
        in_h, in_w, c = nhwc(tin.shape, f"op {op.index} {op.name} input")
        out_h, out_w, _ = nhwc(tout.shape, f"op {op.index} {op.name} output")
        if quant(tin) != quant(tout):
            raise UnsupportedOnMicroError(
                f"op {op.index} {op.name}: input and output quantization differ."
            )
        fh, fw = int(o["filter_height"]), int(o["filter_width"])
        sh, sw = int(o["stride_h"]), int(o["stride_w"])
        ph = same_padding(o["padding"], sh, 1, in_h, fh, out_h)
        pw = same_padding(o["padding"], sw, 1, in_w, fw, out_w)
        lo, hi = activation_range(o["fused_activation_function"], *quant(tout))
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
            return dsp_or_portable(
                f"tml_max_pool_dsp((tml_pool_params){geom}, {{in0}}, {{out}});",
                f"{fn}(&{p}, {{in0}}, {{out}});",
            )
        p = self.em.struct("tml_pool_params", tag, body)
        return f"{fn}(&{p}, {{in0}}, {{out}});"

    def _max_pool_2d(self, op, tag):
        return self._pool(op, tag, "tml_max_pool2d")

    def _average_pool_2d(self, op, tag):
        return self._pool(op, tag, "tml_avg_pool2d")

    def _layer(self, op, macs: int, detail: str, dsp: str = "") -> None:
        self.macs += macs
        row = {"op_index": op.index, "op": op.name, "macs": macs, "detail": detail}
        if dsp:
            row["dsp"] = dsp
        self.layers.append(row)
