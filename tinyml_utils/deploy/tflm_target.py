"""TensorFlow Lite Micro on the (emulated) Cortex-M4F, measured like the generated C.

The peer every Arduino user runs, built and measured on the same board, with the same
compiler, markers and counting plugin as :mod:`tinyml_utils.deploy.mcu_bench`:

* :func:`library`: TFLM (commit 90b983c2) + CMSIS-NN (4ab83cc3) built for the Cortex-M4F by
  ``scripts/build_tflm.sh`` with TFLM's own Makefile, ``cmsis_nn`` or ``reference`` kernels,
  only the kernels the models need (``OPS=``), cached under ``build/tflm/``.
* :func:`measure_tflm`: a firmware (``firmware/tflm_target/tflm_main.cc``) that runs the
  ``.tflite`` with a ``MicroMutableOpResolver`` of the model's ops (int8-only registrations
  for an int8 model, as the workbook's sketches do) on QEMU ``mps2-an386``: the smallest
  arena that allocates AND invokes, found by bisection ON THE TARGET (32-bit pointers: less
  than the 64-bit host runtime reports); then, with exactly that arena, the instructions and
  estimated cycles of one ``Invoke()``, per-op counts, flash, RAM and the int8 outputs of
  every test input.
* :func:`measure_generated_c`: the same numbers for the generated C
  (``firmware/tflm_target/gen_main.c``).

Numbers: ``instructions`` are exact (QEMU TCG plugin, between ``tinyml_bench_begin`` and
``tinyml_bench_end`` around one inference, after one warm-up inference). ``cycles`` is an
ESTIMATE: each executed instruction charged its Cortex-M4 TRM cycle count, zero flash wait
states, taken branches 1 + 2 cycles (details: ``firmware/cortex_m/qemu_insn_plugin.c``).
QEMU has no timing model; a real board differs (wait states, bus contention).
``flash`` = text + data, ``ram`` = data + bss, both without the embedded test inputs and
expected outputs and without the stack; for TFLM ``ram`` includes the arena (exactly the
bisected minimum), the interpreter and the op resolver.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.paths import repo_root
from tinyml_utils.deploy import codegen, emulators, mcu_bench, toolchains
from tinyml_utils.deploy.op_resolver import model_ops, registration
from tinyml_utils.tflite.reader import model_info

KINDS = ("cmsis_nn", "reference")
BUILD_SCRIPT = repo_root() / "scripts" / "build_tflm.sh"
TFLM_DIR = toolchains.FIRMWARE_DIR / "tflm_target"
CORTEX_M_DIR = toolchains.FIRMWARE_DIR / "cortex_m"
#: the 32-bit arena bisection searches below this many bytes
BISECT_CAP = 256 * 1024

#: builtin op -> TFLM kernel source (tensorflow/lite/micro/kernels/<file>.cc)
KERNEL_FILES = {
    "CONV_2D": "conv",
    "DEPTHWISE_CONV_2D": "depthwise_conv",
    "MAX_POOL_2D": "pooling",
    "AVERAGE_POOL_2D": "pooling",
    "FULLY_CONNECTED": "fully_connected",
    "SOFTMAX": "softmax",
    "RESHAPE": "reshape",
    "ADD": "add",
    "MUL": "mul",
    "SUB": "sub",
    "QUANTIZE": "quantize",
    "DEQUANTIZE": "dequantize",
    "LOGISTIC": "logistic",
    "TANH": "tanh",
    "RELU": "activations",
    "RELU6": "activations",
    "MEAN": "reduce",
    "PAD": "pad",
    "CONCATENATION": "concatenation",
    "TRANSPOSE": "transpose",
    "STRIDED_SLICE": "strided_slice",
    "SQUEEZE": "squeeze",
    "HARD_SWISH": "hard_swish",
}
#: kernel source -> the CMSIS-NN Source/ folder it calls (cmsis_nn kernel set)
CMSIS_NN_DIRS = {
    "conv": "ConvolutionFunctions",
    "depthwise_conv": "ConvolutionFunctions",
    "fully_connected": "FullyConnectedFunctions",
    "pooling": "PoolingFunctions",
    "softmax": "SoftmaxFunctions",
    "add": "BasicMathFunctions",
    "mul": "BasicMathFunctions",
}
#: symbols of the embedded test data (not counted in flash)
TEST_DATA_SYMBOLS = ("tflm_test_inputs", "tinyml_test_inputs", "tinyml_test_outputs")


class TflmBuildError(TinyMLError, RuntimeError):
    """TFLM could not be built or the firmware did not run."""


# ----------------------------------------------------------------------------- inputs


# ----------------------------------------------------------------------------- the library


@dataclass
class TflmLibrary:
    """A built ``libtensorflow-microlite*.a`` and the flags its users must compile with."""

    kind: str
    path: Path
    cxxflags: list[str]
    includes: list[str]
    ops: tuple[str, ...]


def kernel_files(ops: list[str] | tuple[str, ...]) -> list[str]:
    """Builtin op names -> the TFLM kernel sources to build (sorted, unique)."""
    missing = [op for op in ops if op not in KERNEL_FILES]
    if missing:
        raise TinyMLError(
            f"no TFLM kernel file known for {missing}: add it to "
            "tinyml_utils.deploy.tflm_target.KERNEL_FILES (the .cc name in "
            "tensorflow/lite/micro/kernels)."
        )
    return sorted({KERNEL_FILES[op] for op in ops})


def library(kind: str, ops: list[str] | tuple[str, ...] | None, jobs: int = 2) -> TflmLibrary:
    """Build (or reuse from build/tflm/) TFLM with only the kernels of ``ops``; ``None``:
    every kernel of TFLM's microlite library (6-7 minutes on 2 cores the first time)."""
    if kind not in KINDS:
        raise TinyMLError(f"kind must be one of {KINDS}, got {kind!r}.")
    toolchains.require_tools("arm-none-eabi-gcc", "arm-none-eabi-g++", "make")
    env = dict(os.environ, JOBS=str(jobs))
    env.pop("CMSIS_NN_DIRS", None)
    env.pop("OPS", None)
    files = kernel_files(ops) if ops is not None else []
    if ops is not None:
        env["OPS"] = " ".join(files)
    dirs = {CMSIS_NN_DIRS.get(f) for f in files} - {None}
    if (
        ops is not None
        and kind == "cmsis_nn"
        and all(f in CMSIS_NN_DIRS or f == "reshape" for f in files)
    ):
        env["CMSIS_NN_DIRS"] = " ".join(sorted(dirs))  # else: all of CMSIS-NN
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), kind], capture_output=True, text=True, env=env
    )
    lib = Path(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
    if proc.returncode != 0 or lib is None or not lib.is_file():
        raise TflmBuildError(
            f"scripts/build_tflm.sh {kind} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
    flags = dict(line.split("=", 1) for line in (lib.parent / "flags.txt").read_text().splitlines())
    # the Makefile's values are shell words (quoted defines such as -D..._FILE=\\""ARMCM4".h\\")
    return TflmLibrary(
        kind,
        lib,
        shlex.split(flags["CXXFLAGS"]),
        shlex.split(flags["INCLUDES"]),
        tuple(sorted(ops)) if ops is not None else ("ALL",),
    )


# ----------------------------------------------------------------------------- firmware


def _c_bytes(data: bytes) -> str:
    return ",\n".join(
        ", ".join(f"0x{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16)
    )


def resolver_lines(model: bytes, int8: bool) -> tuple[list[str], list[str]]:
    """(#include lines, AddXxx calls) registering each of the model's ops once."""
    regs = [registration(op, int8) for op in model_ops(model)]
    return sorted({h for h, _ in regs if h}), [f"r.{call}" for _, call in regs]


def write_model_sources(model: bytes, x_int8: np.ndarray, out_dir: Path) -> None:
    """``tflm_model.h/.cc``: model array, op registrations, test inputs."""
    info = model_info(model)
    sub = info.subgraphs[0]
    tin, tout = sub.tensors[sub.inputs[0]], sub.tensors[sub.outputs[0]]
    int8 = tin.dtype == "int8" and tout.dtype == "int8"
    if not int8:
        raise TinyMLError(f"the TFLM target firmware runs int8 models; this one is {tin.dtype}.")
    x = np.ascontiguousarray(np.asarray(x_int8, np.int8).reshape(len(x_int8), -1))
    in_size, out_size = int(np.prod(tin.shape)), int(np.prod(tout.shape))
    if x.shape[1] != in_size:
        raise TinyMLError(f"inputs have {x.shape[1]} values, the model takes {in_size}.")
    includes, calls = resolver_lines(model, int8)
    ops = model_ops(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tflm_model.h").write_text(
        f"""/* Generated by tinyml_utils.deploy.tflm_target: model, ops, arena, test inputs. */
#ifndef TFLM_MODEL_H
#define TFLM_MODEL_H
#include <stdint.h>

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#define TFLM_N_OPS {len(ops)}
#define TFLM_INPUT_SIZE {in_size}
#define TFLM_OUTPUT_SIZE {out_size}
#define TFLM_TEST_COUNT {len(x)}

extern const unsigned char tflm_model_data[];
extern const int8_t tflm_test_inputs[];
extern const char *const tflm_op_names[TFLM_N_OPS];
extern const tflite::BuiltinOperator tflm_op_codes[TFLM_N_OPS];
TfLiteStatus tflm_register_ops(tflite::MicroMutableOpResolver<TFLM_N_OPS> &r);
#endif
"""
    )
    registrations = "\n".join(f"  if ({c} != kTfLiteOk) return kTfLiteError;" for c in calls)
    (out_dir / "tflm_model.cc").write_text(
        f"""#include "tflm_model.h"
{chr(10).join(includes)}

alignas(16) const unsigned char tflm_model_data[{len(model)}] = {{
{_c_bytes(model)}
}};

const int8_t tflm_test_inputs[{x.size}] = {{
{_c_bytes(x.tobytes()).replace("0x", "(int8_t)0x")}
}};

const char *const tflm_op_names[TFLM_N_OPS] = {{{", ".join(f'"{op}"' for op in ops)}}};
const tflite::BuiltinOperator tflm_op_codes[TFLM_N_OPS] = {{
    {", ".join(f"tflite::BuiltinOperator_{op}" for op in ops)}}};

TfLiteStatus tflm_register_ops(tflite::MicroMutableOpResolver<TFLM_N_OPS> &r) {{
{registrations}
  return kTfLiteOk;
}}
"""
    )


def elf_sizes(elf: Path) -> tuple[int, int]:
    """(flash, ram) of ``elf`` without the embedded test data."""
    text, data, bss = toolchains.parse_size(
        toolchains._run(["arm-none-eabi-size", str(elf)], "arm-none-eabi-size")
    )
    nm = toolchains._run(["arm-none-eabi-nm", "-S", str(elf)], "arm-none-eabi-nm")
    test_data = 0
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] in TEST_DATA_SYMBOLS:
            test_data += int(parts[1], 16)
    return text + data - test_data, data + bss


def c_objects(sources: list[Path], out: Path, flags: tuple[str, ...] = ()) -> list[Path]:
    objs = []
    for src in sources:
        obj = out / (src.stem + ".o")
        toolchains._run(
            [
                "arm-none-eabi-gcc",
                *toolchains.CORTEX_M4F_FLAGS,
                *flags,
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            "Cortex-M4F build (arm-none-eabi-gcc)",
        )
        objs.append(obj)
    return objs


def compile_model(lib: TflmLibrary, model: bytes, x_int8: np.ndarray, out: Path) -> list[Path]:
    """Objects of start-up code, semihosting, tflm_main.cc and the model (arena-independent)."""
    write_model_sources(model, x_int8, out)
    objs = c_objects([CORTEX_M_DIR / "startup.c", CORTEX_M_DIR / "semihost.c"], out)
    for src in (TFLM_DIR / "tflm_main.cc", out / "tflm_model.cc"):
        obj = out / (src.stem + ".o")
        toolchains._run(
            [
                "arm-none-eabi-g++",
                *lib.cxxflags,
                "-Os",  # as TFLM's framework (its CXXFLAGS set no -O: the Makefile adds it per file)
                *lib.includes,
                f"-I{out}",
                f"-I{CORTEX_M_DIR}",
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            "TFLM firmware build (arm-none-eabi-g++)",
        )
        objs.append(obj)
    return objs


def _link(lib: TflmLibrary, objs: list[Path], out: Path, arena: int, bisect: bool) -> Path:
    """Link the firmware with a ``tflm_arena.c`` of ``arena`` bytes (bisection mode or not)."""
    name = "tflm_bisect" if bisect else "tflm"
    arena_c = out / f"{name}_arena.c"
    arena_c.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n"
        f"__attribute__((aligned(16))) uint8_t tflm_arena[{arena}];\n"
        f"const size_t tflm_arena_bytes = {arena};\n"
        f"const int tflm_bisect = {int(bisect)};\n"
    )
    elf = out / f"{name}.elf"
    toolchains._run(
        [
            "arm-none-eabi-gcc",
            *toolchains.CORTEX_M4F_FLAGS,
            "-c",
            str(arena_c),
            "-o",
            str(arena_c.with_suffix(".o")),
        ],
        "Cortex-M4F build (arm-none-eabi-gcc)",
    )
    return link_elf(lib, [*objs, arena_c.with_suffix(".o")], elf)


def link_elf(lib: TflmLibrary, objs: list[Path], elf: Path) -> Path:
    toolchains._run(
        [
            "arm-none-eabi-g++",
            *toolchains.CORTEX_M4F_ARCH,
            *map(str, objs),
            str(lib.path),
            *toolchains.MPS2_LINK_FLAGS,
            "-o",
            str(elf),
        ],
        "TFLM firmware link (arm-none-eabi-g++)",
    )
    return elf


def smallest_arena(lib: TflmLibrary, objs: list[Path], out: Path) -> int:
    """Bytes of the smallest arena for which AllocateTensors() and Invoke() succeed, searched
    by bisection on the target (one QEMU run of the firmware in bisection mode)."""
    elf = _link(lib, objs, out, BISECT_CAP, bisect=True)
    run = emulators.run_qemu(elf, timeout=300)
    found = re.search(r"arena_min (\d+)", run.output)
    if run.returncode != 0 or not found:
        raise TflmBuildError(f"arena bisection failed (exit {run.returncode}):\n{run.output}")
    return int(found.group(1))


# ----------------------------------------------------------------------------- measuring


@dataclass
class TargetRun:
    """One implementation of one model on the emulated Cortex-M4F (module docstring)."""

    impl: str
    instructions: int
    cycles: int
    flash: int
    ram: int
    arena_bytes: int
    outputs: np.ndarray = field(repr=False)
    classes: dict[str, int] = field(default_factory=dict)
    ops: list[dict] = field(default_factory=list)
    elf: Path | None = None


def _symbol(elf: Path, name: str) -> int:
    nm = toolchains._run(["arm-none-eabi-nm", str(elf)], "arm-none-eabi-nm")
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise TflmBuildError(f"symbol {name} not in {elf.name}")


def _run_counted(elf: Path, plugin: Path, marks: list[int] | None = None) -> dict:
    args = {
        "begin": hex(_symbol(elf, "tinyml_bench_begin")),
        "end": hex(_symbol(elf, "tinyml_bench_end")),
    }
    if marks:
        args["mark"] = ":".join(hex(m & ~1) for m in marks)
    run = emulators.run_qemu(elf, plugin=plugin, plugin_args=args, timeout=600)
    if run.returncode != 0 or "DONE" not in run.output:
        raise TflmBuildError(f"{elf.name} failed on QEMU (exit {run.returncode}):\n{run.output}")
    out = run.output

    def ints(tag: str) -> list[int]:
        found = re.search(rf"^{tag}:((?: \d+)+)$", out, re.M)
        return [int(v) for v in found.group(1).split()] if found else []

    rows = re.findall(r"^y (\d+):((?: -?\d+)+)$", out, re.M)
    classes = re.search(r"^tinyml-classes:(.*)$", out, re.M).group(1).split()
    return {
        "instructions": int(re.search(r"between_markers=(\d+)", out).group(1)),
        "cycles": int(re.search(r"tinyml-cycles: between_markers=(\d+)", out).group(1)),
        "classes": {k: int(v) for k, v in (c.split("=") for c in classes)},
        "marks": ints("tinyml-marks"),
        "mark_cycles": ints("tinyml-mark-cycles"),
        "outputs": np.array([[int(v) for v in vals.split()] for _, vals in rows], np.int8),
        "text": out,
    }


def _per_op(names: list[str], res: dict, offset: int = 0) -> list[dict]:
    """Per-op instructions/cycles from the marks (mark k = start of op k + offset)."""
    marks, cyc = res["marks"], res["mark_cycles"]
    rows = []
    for k, name in enumerate(names):
        i = k + offset
        if i + 1 < len(marks):
            rows.append(
                {
                    "op_index": k,
                    "op": name,
                    "instructions": marks[i + 1] - marks[i],
                    "cycles": cyc[i + 1] - cyc[i] if i + 1 < len(cyc) else None,
                }
            )
    return rows


def measure_tflm(
    lib: TflmLibrary,
    model: bytes,
    x_int8: np.ndarray,
    out_dir: str | Path,
    plugin: Path,
    arena: int | None = None,
) -> TargetRun:
    """TFLM (``lib``'s kernel set) on the target: arena bisected on the target unless given,
    then instructions, cycle estimate, per-op counts, flash, RAM and all outputs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    objs = compile_model(lib, model, x_int8, out)
    arena = arena or smallest_arena(lib, objs, out)
    elf = _link(lib, objs, out, arena, bisect=False)
    first = _run_counted(elf, plugin)
    used = int(re.search(r"arena_used (\d+)", first["text"]).group(1))
    kernels = dict(re.findall(r"^op (\w+) (0x[0-9a-f]+)$", first["text"], re.M))
    names = [op.name for op in model_info(model).subgraphs[0].ops]
    marked = _run_counted(elf, plugin, sorted({int(a, 16) for a in kernels.values()}))
    if len(marked["marks"]) != len(names) + 1:
        raise TflmBuildError(
            f"expected {len(names)} kernel calls in one Invoke(), saw {len(marked['marks']) - 1}"
        )
    flash, ram = elf_sizes(elf)
    ops = _per_op(names, marked)
    run = TargetRun(
        f"tflm_{lib.kind}",
        first["instructions"],
        first["cycles"],
        flash,
        ram,
        arena,
        first["outputs"],
        first["classes"],
        ops,
        elf,
    )
    run.classes["arena_used"] = used
    return run


def measure_generated_c(
    model: bytes, name: str, x_int8: np.ndarray, out_dir: str | Path, plugin: Path
) -> TargetRun:
    """The generated C (DSP kernels, as benchmarks/mcu) measured like :func:`measure_tflm`."""
    toolchains.require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    out = Path(out_dir)
    gen = codegen.generate(model, name, out / "gen")
    x = np.asarray(x_int8, np.int8).reshape(len(x_int8), -1)
    vec_dir = out / "vectors"
    toolchains.write_test_vectors(vec_dir, gen, x, np.zeros((len(x), gen.output_size), np.int8))
    elf = out / f"{name}_gen.elf"
    toolchains._run(
        [
            "arm-none-eabi-gcc",
            *toolchains.CORTEX_M4F_FLAGS,
            "-DTML_LAYER_MARKS",
            f"-I{gen.out_dir}",
            f"-I{vec_dir}",
            f"-I{CORTEX_M_DIR}",
            str(CORTEX_M_DIR / "startup.c"),
            str(CORTEX_M_DIR / "semihost.c"),
            str(TFLM_DIR / "gen_main.c"),
            str(gen.source),
            str(gen.out_dir / "tinyml_kernels.c"),
            str(vec_dir / "test_vectors.c"),
            *toolchains.MPS2_LINK_FLAGS,
            "-o",
            str(elf),
        ],
        "Cortex-M4F build (arm-none-eabi-gcc)",
    )
    res = _run_counted(elf, plugin, [_symbol(elf, "tml_layer_mark")])
    flash, ram = elf_sizes(elf)
    ops = _per_op([layer["op"] for layer in gen.layers], res)
    return TargetRun(
        "generated_c",
        res["instructions"],
        res["cycles"],
        flash,
        ram,
        gen.arena_bytes,
        res["outputs"],
        res["classes"],
        ops,
        elf,
    )


def build_plugin(out_dir: str | Path) -> Path:
    """The counting plugin (instructions, marks, cycle estimate)."""
    return mcu_bench.build_plugin(out_dir)
