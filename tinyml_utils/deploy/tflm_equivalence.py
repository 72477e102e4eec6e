"""Do the generated C, TFLM on the target and the workbook's TFLM sketches compute the same
bytes? Helpers of ``tests/test_tflm_target.py`` and ``scripts/benchmark_peers.py``.

* :func:`explain_differences`: why the generated C and TFLM differ on an input, if they do.
* :func:`first_divergence`: where LiteRT's reference kernels (what the generated C
  reproduces byte for byte) and TFLM part ways for an input, op by op.
* :func:`run_sketch_core`: the committed sketch's own inference code, compiled against the
  real TFLM library, on the emulated Cortex-M4F.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.deploy import emulators, toolchains
from tinyml_utils.deploy.tflm_target import (
    CORTEX_M_DIR,
    TFLM_DIR,
    TflmBuildError,
    TflmLibrary,
    c_objects,
    link_elf,
)
from tinyml_utils.tflite.reader import model_info

# ----------------------------------------------------------------------------- differences


def explain_differences(
    model: bytes,
    x_int8: np.ndarray,
    generated: np.ndarray,
    tflm: np.ndarray,
    litert: np.ndarray,
    approx_output: bool,
) -> list[tuple[int, str | None]]:
    """Why the generated C's outputs differ from TFLM's, per differing input: (index, reason).

    Reasons: ``"fc_requantization"`` (TFLM and LiteRT's reference part at a FULLY_CONNECTED
    output one step apart, LiteRT issue #8567), ``"softmax_approximation"`` (TFLM equals
    LiteRT there and the generated C is within one step of both at a SOFTMAX/LOGISTIC output,
    the tolerance its firmware tests allow), or None: unexplained, a bug.
    """
    generated, tflm, litert = (np.asarray(a).reshape(len(a), -1) for a in (generated, tflm, litert))
    differ = np.flatnonzero((generated != tflm).any(axis=1))
    if not len(differ):
        return []
    where = first_divergence(model, x_int8[differ])
    out = []
    for i, w in zip(differ, where, strict=True):
        gap = int(np.abs(generated[i].astype(int) - litert[i].astype(int)).max())
        if w is not None and w["op"] == "FULLY_CONNECTED" and w["max_diff"] == 1:
            out.append((int(i), "fc_requantization"))
        elif w is None and approx_output and gap <= 1:
            out.append((int(i), "softmax_approximation"))
        else:
            out.append((int(i), None))
    return out


def first_divergence(model: bytes, x_int8: np.ndarray) -> list[dict | None]:
    """Per input: the first op whose int8 output differs between LiteRT's reference kernels
    (what the generated C reproduces) and TFLM (the tflite-micro Python runtime, the same
    kernels as on the target), as ``{"op_index", "op", "max_diff", "values"}``; None when
    every tensor agrees. LiteRT's reference FULLY_CONNECTED requantizes in float where TFLM
    uses integers (LiteRT issue #8567): a step now and then, see
    :class:`~tinyml_utils.analyze.interpreters.TFLiteRunner`."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite_micro import runtime

    lite = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    lite.allocate_tensors()
    micro = runtime.Interpreter.from_bytes(
        model, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )
    detail = lite.get_input_details()[0]
    ops = model_info(model).subgraphs[0].ops
    found: list[dict | None] = []
    for row in np.asarray(x_int8, np.int8).reshape(len(x_int8), -1):
        xi = row.reshape(detail["shape"])
        lite.set_tensor(detail["index"], xi)
        lite.invoke()
        micro.set_input(xi, 0)
        micro.invoke()
        hit = None
        for op in ops:
            for t in op.outputs:
                a = lite.get_tensor(t)
                b = np.asarray(micro.GetTensor(t, 0)["tensor_data"]).reshape(a.shape)
                if not np.array_equal(a, b):
                    diff = np.abs(a.astype(np.int32) - b.astype(np.int32))
                    hit = {
                        "op_index": op.index,
                        "op": op.name,
                        "max_diff": int(diff.max()),
                        "values": int((diff > 0).sum()),
                    }
                    break
            if hit:
                break
        found.append(hit)
    return found


# ----------------------------------------------------------------------------- sketches


def run_sketch_core(
    lib: TflmLibrary, sketch_dir: str | Path, x_float: np.ndarray, out_dir: str | Path
) -> np.ndarray:
    """The inference core of a workbook TFLM sketch (``firmware/arduino/<app>/``) on the target.

    ``firmware/tflm_target/sketch_main.cc`` includes the ``.ino`` itself and calls its
    ``setup()`` (model array, op resolver, ``kArenaBytes``, ``AllocateTensors``), its
    ``quantize()`` on each float model input of ``x_float`` and ``Invoke()``; sensors and
    serial port are shims. Returns the int8 outputs, one row per input.
    """
    folder = Path(sketch_dir).resolve()
    inos = sorted(folder.glob("*.ino"))
    if len(inos) != 1:
        raise TinyMLError(f"{folder}: expected one .ino sketch, found {len(inos)}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x_float, np.float32).reshape(len(x_float), -1)
    values = ",\n".join(", ".join(f"{v!r}f" for v in row.astype(float).tolist()) for row in x)
    (out / "sketch_inputs.h").write_text(
        "/* float model inputs for sketch_main.cc (tinyml_utils.deploy.tflm_target) */\n"
        f"#define SKETCH_TEST_COUNT {len(x)}\n#define SKETCH_INPUT_SIZE {x.shape[1]}\n"
        f"static const float sketch_inputs[{x.size}] = {{\n{values}\n}};\n"
    )
    objs = c_objects(
        [CORTEX_M_DIR / "startup.c", CORTEX_M_DIR / "semihost.c", *sorted(folder.glob("*.c"))],
        out,
        (f"-I{folder}",),
    )
    cxx = [f for f in lib.cxxflags if f != "-Werror"] + ["-Os", "-Wno-unused-function"]
    includes = [*lib.includes, f"-I{TFLM_DIR / 'arduino_shim'}", f"-I{folder}", f"-I{out}"]
    for src, extra in [
        (TFLM_DIR / "sketch_main.cc", [f'-DSKETCH_INO="{inos[0]}"', f"-I{CORTEX_M_DIR}"])
    ] + [(cpp, []) for cpp in sorted(folder.glob("*.cpp"))]:
        obj = out / (src.stem + ".o")
        toolchains._run(
            ["arm-none-eabi-g++", *cxx, *includes, *extra, "-c", str(src), "-o", str(obj)],
            f"sketch build (arm-none-eabi-g++ {src.name})",
        )
        objs.append(obj)
    elf = link_elf(lib, objs, out / f"{inos[0].stem}_sketch.elf")
    run = emulators.run_qemu(elf, timeout=600)
    if run.returncode != 0 or "DONE" not in run.output:
        raise TflmBuildError(f"{elf.name} failed on QEMU (exit {run.returncode}):\n{run.output}")
    rows = re.findall(r"^y (\d+):((?: -?\d+)+)$", run.output, re.M)
    return np.array([[int(v) for v in vals.split()] for _, vals in rows], np.int8)
