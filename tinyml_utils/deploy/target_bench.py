"""``tinyml benchmark --target cortex-m4``: what one inference costs on the microcontroller.

For each int8 model: the generated C and TensorFlow Lite Micro with CMSIS-NN kernels, built
for a Cortex-M4F and run on the emulated MPS2-AN386 board (:mod:`tflm_target`): exact
instructions, the Cortex-M4 TRM cycle ESTIMATE (zero flash wait states), flash, RAM, the
arena TFLM needs on the 32-bit target, and the milliseconds the estimate implies at the
clock of every Cortex-M4 board of :mod:`tinyml_utils.optimize.boards`. Unlike the host-PC
latency (two byte-identical files can time 1.7x apart), these numbers are reproducible.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.paths import models_dir
from tinyml_utils.deploy import tflm_target
from tinyml_utils.deploy.op_resolver import model_ops
from tinyml_utils.optimize.boards import BOARDS
from tinyml_utils.tflite.interpreters import load_model_bytes
from tinyml_utils.tflite.reader import model_info
from tinyml_utils.tflite.tflm import measure_arena

TARGETS = ("cortex-m4",)


def cortex_m4_clocks() -> dict[str, float]:
    """Board key -> clock in MHz, for the boards with a Cortex-M4 (from their ``mcu`` text)."""
    clocks = {}
    for key, board in BOARDS.items():
        found = re.search(r"Cortex-M4F?\b.*?@\s*([\d.]+)\s*MHz", board.mcu)
        if found:
            clocks[key] = float(found.group(1))
    return clocks


def workbook_ops() -> set[str]:
    """The ops of the committed models (models/*/model_int8.tflite): building TFLM with at
    least these lets every such model share one cached library (unused kernels cost no
    flash: the firmware links with --gc-sections)."""
    return {op for path in models_dir().glob("*/model_int8.tflite") for op in model_ops(path)}


def workbook_library(model: bytes, kind: str = "cmsis_nn") -> tflm_target.TflmLibrary:
    """TFLM for the Cortex-M4F with the kernels of ``model`` and of every committed model:
    one cached library serves them all."""
    return tflm_target.library(kind, sorted(set(model_ops(model)) | workbook_ops()))


def _inputs(model: bytes, x_int8: np.ndarray | None, n: int, seed: int) -> np.ndarray:
    sub = model_info(model).subgraphs[0]
    tin = sub.tensors[sub.inputs[0]]
    if tin.dtype != "int8":
        raise TinyMLError(
            f"--target cortex-m4 measures int8 models; this one takes {tin.dtype} input "
            "(convert it with tinyml export / tflite.convert(..., 'int8'))."
        )
    size = int(np.prod(tin.shape))
    if x_int8 is None:
        return np.random.default_rng(seed).integers(-128, 128, (n, size), dtype=np.int8)
    return np.asarray(x_int8, np.int8).reshape(len(x_int8), -1)[:n]


def target_benchmark(
    model, name: str, x_int8: np.ndarray | None = None, n: int = 4, seed: int = 0
) -> pd.DataFrame:
    """One row per implementation (``generated_c``, ``tflm_cmsis_nn``) of ``model`` on the
    emulated Cortex-M4F; ``x_int8``: model inputs (random int8 when None: the instruction
    count of these kernels hardly depends on the values)."""
    data = load_model_bytes(model)
    x = _inputs(data, x_int8, n, seed)
    lib = workbook_library(data)
    clocks = cortex_m4_clocks()
    with tempfile.TemporaryDirectory(prefix="target_bench_") as tmp:
        plugin = tflm_target.build_plugin(tmp)
        runs = [
            tflm_target.measure_generated_c(data, "model", x, Path(tmp) / "gen", plugin),
            tflm_target.measure_tflm(lib, data, x, Path(tmp) / "tflm", plugin),
        ]
    host = measure_arena(data).arena_bytes  # the Python TFLM runtime on this 64-bit host
    rows = []
    for run in runs:
        row = {
            "model": name,
            "impl": run.impl,
            "instructions": run.instructions,
            "cycles_estimate": run.cycles,
            "flash_bytes": run.flash,
            "ram_bytes": run.ram,
            "arena_bytes": run.arena_bytes,
            "host_arena_bytes": host if run.impl.startswith("tflm") else None,
            "outputs_equal": bool(np.array_equal(run.outputs, runs[0].outputs)),
        }
        for key, mhz in clocks.items():
            row[f"ms_{key}_{mhz:g}mhz"] = round(run.cycles / (mhz * 1e3), 3)
        rows.append(row)
    return pd.DataFrame(rows)
