"""File generation: lower every op, plan the memory, render and write the model's files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.deploy.codegen.emit import c_float, comment_lines, render
from tinyml_utils.deploy.codegen.lowering import (
    APPROX_OPS,
    EXPAND_LIMIT_BYTES,
    FC_WIDE_LIMIT_BYTES,
    Lowering,
)
from tinyml_utils.deploy.codegen.plan import Storage, plan
from tinyml_utils.deploy.codegen.quant import quant
from tinyml_utils.deploy.identifiers import c_identifier
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes
from tinyml_utils.tflite.reader import model_info

#: Folder of the portable runtime copied next to every generated model.
RUNTIME_DIR = Path(__file__).resolve().parents[1] / "c"
RUNTIME_FILES = ("tinyml_kernels.h", "tinyml_kernels.c", "tinyml_kernels_dsp.h")


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
        scratch_bytes: RAM of the DSP (SMLAD) kernels: widened inputs or im2col columns,
            and the band of a convolution pooled on the fly.
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


def generate(
    model: ModelLike,
    name: str = "model",
    out_dir: str | Path = "generated",
    copy_runtime: bool = True,
    expand_limit_bytes: int = EXPAND_LIMIT_BYTES,
    fc_wide_limit_bytes: int = FC_WIDE_LIMIT_BYTES,
) -> GeneratedModel:
    """Write ``<name>_model.h`` / ``<name>_model.c`` (+ the runtime) for ``model`` into ``out_dir``.

    ``expand_limit_bytes``: a convolution whose padded input widened to int16 exceeds this
    uses im2col columns in the DSP build (0: always im2col). ``fc_wide_limit_bytes``: a
    FULLY_CONNECTED whose weights widened to int16 fit this many bytes keeps them widened in
    the DSP build's flash (faster); larger ones keep int8 weights (0: always int8).

    Raises UnsupportedOnMicroError (naming the op and the alternative) for ops, types or
    shapes the generator does not handle.
    """
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
    storage = Storage()
    low = Lowering(info, prefix, expand_limit=expand_limit_bytes, fc_wide_limit=fc_wide_limit_bytes)
    calls: list[tuple[str, list[int], list[int]]] = []
    fused = set()  # positions of pools computed inside the preceding convolution
    for position, op in enumerate(info.ops):
        if position in fused:
            continue
        pool = low.fusable_pool(position)
        template = low.lower(op, pool)
        if template is None:  # alias: output shares the input's bytes
            storage.union(op.inputs[0], op.outputs[0])
            continue
        ins = [i for i in op.inputs if i >= 0 and not info.tensor(i).is_constant]
        if pool is not None:
            fused.add(position + 1)
        calls.append((template, ins, list((pool or op).outputs)))
    same = storage.find(tin.index) == storage.find(tout.index)
    slots, arena = plan(info, storage, calls) if calls else ({}, 0)

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
    in_scale, in_zp = quant(tin)
    out_scale, out_zp = quant(tout)
    context: dict[str, Any] = {
        "comment": comment_lines(info, prefix, g),
        "prefix": prefix,
        "up": prefix.upper(),
        "input_bytes": tin.nbytes,
        "output_bytes": tout.nbytes,
        "input_scale": c_float(in_scale),
        "input_zero_point": in_zp,
        "output_scale": c_float(out_scale),
        "output_zero_point": out_zp,
        "arena": arena,
        "arena_words": max((arena + 3) // 4, 1),
        "scratch_words": (scratch + 3) // 4,
        "macs": low.macs,
        "definitions": low.em.defs,
        "body": body,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header_path = out / f"{prefix}_model.h"
    source_path = out / f"{prefix}_model.c"
    header_path.write_text(render("model.h.j2", **context))
    source_path.write_text(render("model.c.j2", **context))
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
