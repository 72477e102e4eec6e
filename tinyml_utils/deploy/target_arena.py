"""The tensor arena an int8 model needs on a 32-bit microcontroller, next to the host's.

:func:`tinyml_utils.tflite.tflm.measure_arena` asks the Python TFLM runtime, which runs on
the 64-bit host: its pointers and structs are twice as wide, so it reports MORE arena than a
Cortex-M needs (the six committed reference models: the target needs 69-90 % of it,
models/RESULTS.md). The figure a microcontroller user sizes ``kArenaBytes`` with is the
target's:

* :func:`target_arena` builds TFLM (CMSIS-NN kernels, the pinned commits, cached under
  ``build/tflm``) with the model for the Cortex-M4F and bisects the smallest arena that
  allocates AND invokes, ON the emulated board (QEMU ``mps2-an386``; about 10 s per model).
  It returns None, with the reason, when the ARM toolchain, QEMU or the TFLM sources are
  missing (Colab, a laptop without ``scripts/install_firmware_tools.sh``).
* :func:`arena_text` is the sentence every notebook and table uses: the target's figure with
  the host's beside it, or the host's alone, labelled as such.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.deploy import target_bench, tflm_target, toolchains
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes
from tinyml_utils.tflite.reader import model_info

#: what the target measurement needs on PATH
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-g++", "make", "qemu-system-arm")


@dataclass(frozen=True)
class TargetArena:
    """``bytes``: the smallest arena on the 32-bit target, None when it could not be
    measured (``reason`` says why)."""

    bytes: int | None
    reason: str = ""


def _is_int8(data: bytes) -> bool:
    sub = model_info(data).subgraphs[0]
    return all(sub.tensors[i].dtype == "int8" for i in (*sub.inputs, *sub.outputs))


def unavailable() -> str | None:
    """Why the target cannot be measured here, or None when it can."""
    missing = [t for t in TOOLS if not toolchains.tools_available(t)]
    if missing:
        return (
            f"{', '.join(missing)} not installed (scripts/install_firmware_tools.sh installs "
            "them), so only the 64-bit host runtime's arena is known"
        )
    return None


def measure_target_arena(model: ModelLike) -> int:
    """The smallest arena (bytes) with which TFLM + CMSIS-NN allocates and invokes ``model``
    on the emulated Cortex-M4F. Raises :class:`TinyMLError` when it cannot be measured."""
    data = load_model_bytes(model)
    if not _is_int8(data):
        raise TinyMLError(
            "the target arena is measured for int8 models (int8 input and output); convert "
            "with tflite.convert(..., 'int8')."
        )
    why = unavailable()
    if why:
        raise TinyMLError(f"cannot measure the target arena: {why}.")
    lib = target_bench.workbook_library(data)
    sub = model_info(data).subgraphs[0]
    size = int(np.prod(sub.tensors[sub.inputs[0]].shape))
    with tempfile.TemporaryDirectory(prefix="target_arena_") as tmp:
        objs = tflm_target.compile_model(lib, data, np.zeros((1, size), np.int8), Path(tmp))
        return tflm_target.smallest_arena(lib, objs, Path(tmp))


def target_arena(model: ModelLike) -> TargetArena:
    """:func:`measure_target_arena`, or None with the reason when it cannot be measured here
    (never raises for a missing toolchain or a failed build: the host figure still stands)."""
    try:
        return TargetArena(measure_target_arena(model))
    except TinyMLError as exc:
        return TargetArena(None, str(exc).splitlines()[0])


def arena_text(target: int | None, host: int | None, markdown: bool = False) -> str:
    """``"5,396 B on a 32-bit Cortex-M4F (6,480 B in the 64-bit host runtime)"``, or the host
    figure alone, labelled, when the target's is unknown."""
    bold = "**" if markdown else ""
    if target is not None and host is not None:
        return (
            f"{bold}{target:,} B{bold} on a 32-bit Cortex-M4F (measured on the emulated board; "
            f"{host:,} B in the 64-bit host runtime)"
        )
    if target is not None:
        return f"{bold}{target:,} B{bold} on a 32-bit Cortex-M4F (measured on the emulated board)"
    if host is not None:
        return (
            f"{bold}{host:,} B{bold} in the 64-bit host runtime (a 32-bit microcontroller needs "
            "less: its pointers are half as wide)"
        )
    return "not measured"
