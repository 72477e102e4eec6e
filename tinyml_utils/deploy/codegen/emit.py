"""C text: constants as C literals, the tables of the generated source (:class:`Emitter`), and
the model's header and source from the Jinja2 templates in ``templates/``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.deploy.codegen.quant import activation_range, quant

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def c_list(values, per_line: int = 16, fmt=str) -> str:
    vals = [fmt(v) for v in np.asarray(values).reshape(-1).tolist()]
    if not vals:
        return "0"
    rows = [", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line)]
    return "\n    " + ",\n    ".join(rows) + "\n"


def c_int32(v: int) -> str:
    """An int32 constant as C source (wrapped to 32 bits; INT32_MIN without overflow)."""
    v = (int(v) + (1 << 31)) % (1 << 32) - (1 << 31)
    return "(-2147483647 - 1)" if v == -(1 << 31) else str(v)


def c_float(v: float) -> str:
    f = float(np.float32(v))
    if math.isinf(f):
        return "3.402823466e+38f"
    return f"{f:.9g}f" if ("e" in f"{f:.9g}" or "." in f"{f:.9g}") else f"{f:.9g}.0f"


class Emitter:
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
            f"{c_list(arr, fmt=fmt)}}};",
            size * max(arr.size, 1),
        )
        return full

    def words(self, name: str, words: np.ndarray) -> str:
        """uint32 words (weights packed for the DSP kernels), in hex."""
        return self.array("uint32_t", name, words, fmt=lambda v: f"0x{v:08x}u")

    def chans(self, name: str, rows: list[tuple[int, int, int, int, int]]) -> str:
        """A ``tml_chan`` table: (bias, a, b, c, d) per output channel."""
        full = f"{self.prefix}_{name}"
        body = ",\n".join("  {" + ", ".join(c_int32(v) for v in row) + "}" for row in rows)
        self._add(f"static const tml_chan {full}[{len(rows)}] = {{\n{body}\n}};", 20 * len(rows))
        return full

    def out_of_line(self, name: str, call: str) -> str:
        """The DSP build's kernel call template ``call`` ({in0}, {out}, TML_SCRATCH) moved
        into ``static void <prefix>_<name>(in, out, scratch)``, and the template calling it.

        The kernels are always-inline; one function per layer (TML_LAYER_FN in model.c.j2)
        keeps each layer's register allocation apart from the other layers'.
        """
        full = f"{self.prefix}_{name}"
        body = call.format(in0="in", out="out").replace("TML_SCRATCH", "scratch")
        old, self.build = self.build, "dsp"
        try:
            self._add(
                f"static TML_LAYER_FN void {full}(const int8_t *in, int8_t *out,"
                f" uint32_t *scratch) {{\n  {body}\n}}",
                0,
            )
        finally:
            self.build = old
        return f"{full}({{in0}}, {{out}}, TML_SCRATCH);"

    def struct(self, ctype: str, name: str, body: str) -> str:
        full = f"{self.prefix}_{name}"
        self._add(f"static const {ctype} {full} TML_FLASH = {{\n{body}\n}};", 0)
        return full


def dsp_or_portable(dsp: str, portable: str) -> str:
    return f"#if TML_DSP\n  {dsp}\n#else\n  {portable}\n#endif"


def braced(values) -> str:
    """A compound-literal body for str.format templates: ``{{1, 2}}``."""
    return "{{" + ", ".join(str(int(v)) for v in values) + "}}"


def comment_lines(info, name: str, g: dict[str, Any]) -> list[str]:
    """The comment block at the top of both generated files."""
    tin, tout = info.tensor(info.inputs[0]), info.tensor(info.outputs[0])
    return [
        f"{name}: int8 inference generated by tinyml_utils.deploy.codegen (do not edit).",
        "ops: " + ", ".join(op.name for op in info.ops),
        f"input  {tuple(tin.shape)} int8, {tin.quantization_text()}",
        f"output {tuple(tout.shape)} int8, {tout.quantization_text()}",
        f"activation arena {g['arena']} bytes (static, planned by lifetime); "
        f"DSP scratch {g['scratch']} bytes (DSP build only: widened inputs / im2col columns"
        " / pooling bands)",
        f"constants: {g['consts']['portable']} bytes (portable build), "
        f"{g['consts']['dsp']} bytes (DSP build)",
        f"multiply-accumulates per inference: {g['macs']}",
        "arithmetic: TFLite int8 reference kernels (bit-exact), SOFTMAX/LOGISTIC within 1",
    ]


def render(template: str, **context: Any) -> str:
    """``templates/<template>`` rendered with ``context`` (undefined names are errors)."""
    return _ENV.get_template(template).render(**context)


def quant_body(em: Emitter, tag: str, info, op, bias_index: int, mults, shifts, act: str) -> str:
    """The ``tml_quant`` initializer of a conv / fully-connected op (bias, multipliers and
    shifts written as arrays through ``em``)."""
    tin, tout = info.tensor(op.inputs[0]), info.tensor(op.outputs[0])
    _, in_zp = quant(tin)
    out_scale, out_zp = quant(tout)
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
