"""Build generated models into programs: the host (gcc), a Cortex-M4F (arm-none-eabi-gcc) and
an Arduino Uno / Mega (arduino-builder + avr-gcc).

Every build takes a :class:`~tinyml_utils.deploy.codegen.GeneratedModel` plus the test
vectors (int8 inputs and the outputs TFLite's reference kernels give for them) and returns
the program's path and, for microcontrollers, its flash and RAM use. The board code lives in
``firmware/``: ``host/`` (one process runs all inputs from a file), ``cortex_m/`` (vector
table, linker script for the MPS2-AN386 board, semihosting, on-target comparison) and
``avr/`` (an Arduino sketch that prints predictions over Serial).

The tools are Debian packages, installed by ``scripts/install_firmware_tools.sh``; a missing
tool raises :class:`ToolchainMissingError` naming the script.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.paths import repo_root
from tinyml_utils.deploy.codegen import GeneratedModel

FIRMWARE_DIR = repo_root() / "firmware"

HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")
SANITIZE_FLAGS = ("-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
#: the Cortex-M4F with its single-precision FPU, hard-float ABI (compile and link)
CORTEX_M4F_ARCH = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
CORTEX_M4F_FLAGS = (
    *CORTEX_M4F_ARCH,
    "-std=c99",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-ffunction-sections",
    "-fdata-sections",
)
#: linking a firmware for QEMU's mps2-an386 board (startup.c brings the vector table)
MPS2_LINK_FLAGS = (
    "-T",
    str(FIRMWARE_DIR / "cortex_m" / "mps2_an386.ld"),
    "-nostartfiles",
    "--specs=nano.specs",
    "-Wl,--gc-sections",
)
ARDUINO_HARDWARE = ("/usr/share/arduino-builder", "/usr/share/arduino/hardware")
#: board -> (fqbn, simavr mcu, flash bytes available to sketches, SRAM bytes)
AVR_BOARDS = {
    "uno": ("arduino:avr:uno", "atmega328p", 32256, 2048),
    "mega": ("arduino:avr:mega:cpu=atmega2560", "atmega2560", 253952, 8192),
}
#: SRAM an AVR sketch must leave free for the stack (call frames of loop(), the kernels'
#: parameter copies out of PROGMEM, Serial printing); static RAM beyond SRAM minus this
#: links but crashes at run time.
AVR_STACK_RESERVE = 256


class ToolchainMissingError(TinyMLError, RuntimeError):
    """A compiler or emulator is not installed."""


class BuildError(TinyMLError, RuntimeError):
    """A compiler reported an error; the message holds its output."""


def require_tools(*tools: str) -> None:
    """Raise ToolchainMissingError unless every tool is on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise ToolchainMissingError(
            f"not installed: {', '.join(missing)}. Install the firmware toolchains with "
            "`bash scripts/install_firmware_tools.sh` (Debian/Ubuntu packages)."
        )


def tools_available(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


def _run(cmd: list[str], what: str, cwd: Path | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        raise BuildError(
            f"{what} failed (exit {proc.returncode}):\n{' '.join(cmd)}\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc.stdout + proc.stderr


@dataclass
class FirmwareBuild:
    """A built program.

    Attributes:
        path: the executable / ELF.
        command: the compiler command (for the notebook).
        text, data, bss: section sizes (arm-none-eabi-size / avr-size), 0 on the host.
        board: "host", "mps2-an386" (Cortex-M4F), "uno" or "mega".
        log: the build output.
    """

    path: Path
    command: list[str]
    board: str
    text: int = 0
    data: int = 0
    bss: int = 0
    log: str = field(default="", repr=False)

    @property
    def flash(self) -> int:
        """Bytes in flash: code + constants (text) + initial values of data."""
        return self.text + self.data

    @property
    def ram(self) -> int:
        """Static RAM: data + bss (stack not included)."""
        return self.data + self.bss


# ----------------------------------------------------------------------------- test vectors


def write_test_vectors(
    out_dir: Path, gen: GeneratedModel, x_int8: np.ndarray, y_int8: np.ndarray
) -> tuple[Path, Path]:
    """``test_vectors.h/.c``: the inputs and expected outputs as const arrays (PROGMEM on AVR).

    ``TINYML_TOLERANCE`` is 1 when the model ends in SOFTMAX/LOGISTIC, else 0.
    """
    x = np.asarray(x_int8, np.int8).reshape(len(x_int8), -1)
    y = np.asarray(y_int8, np.int8).reshape(len(y_int8), -1)
    if x.shape[1] != gen.input_size or y.shape[1] != gen.output_size or len(x) != len(y):
        raise TinyMLError(
            f"test vectors {x.shape}/{y.shape} do not match the model "
            f"({gen.input_size} in, {gen.output_size} out)."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    tol = 1 if gen.approx_output else 0
    header = out_dir / "test_vectors.h"
    source = out_dir / "test_vectors.c"
    header.write_text(
        f"""/* Test vectors for {gen.name} (generated): inputs and TFLite reference outputs. */
#ifndef TINYML_TEST_VECTORS_H
#define TINYML_TEST_VECTORS_H

#include <stdint.h>

#include "tinyml_kernels.h"
#include "{gen.header.name}"

#ifdef __cplusplus
extern "C" {{
#endif

#define TINYML_TEST_COUNT {len(x)}
#define TINYML_TOLERANCE {tol}
extern const int8_t tinyml_test_inputs[{x.size}] TML_FLASH;
extern const int8_t tinyml_test_outputs[{y.size}] TML_FLASH;

#ifdef __cplusplus
}}
#endif

#endif
"""
    )

    def arr(a: np.ndarray) -> str:
        flat = a.reshape(-1).tolist()
        return ",\n".join(", ".join(map(str, flat[i : i + 24])) for i in range(0, len(flat), 24))

    source.write_text(
        f"""#include "test_vectors.h"

const int8_t tinyml_test_inputs[{x.size}] TML_FLASH = {{
{arr(x)}
}};
const int8_t tinyml_test_outputs[{y.size}] TML_FLASH = {{
{arr(y)}
}};
"""
    )
    return header, source


# ----------------------------------------------------------------------------- host


def build_host(
    gen: GeneratedModel,
    build_dir: str | Path | None = None,
    sanitize: bool = False,
    dsp_emulate: bool = False,
    extra_flags: tuple[str, ...] = (),
) -> FirmwareBuild:
    """Compile the generated model + ``firmware/host/tinyml_host_main.c`` with gcc -std=c99.

    ``dsp_emulate`` builds the SMLAD code path (what a Cortex-M4 runs) with C emulation of
    the DSP instructions; ``sanitize`` adds AddressSanitizer + UndefinedBehaviorSanitizer.
    """
    require_tools("gcc")
    out = Path(build_dir or gen.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ("_asan" if sanitize else "") + ("_dsp" if dsp_emulate else "")
    exe = out / f"{gen.name}_host{suffix}"
    flags = list(HOST_FLAGS)
    if sanitize:
        flags = [f for f in flags if f != "-O2"] + list(SANITIZE_FLAGS)
    if dsp_emulate:
        flags.append("-DTML_DSP_EMULATE")
    cmd = [
        "gcc",
        *flags,
        *extra_flags,
        f"-I{gen.out_dir}",
        f'-DMODEL_HEADER="{gen.header.name}"',
        str(FIRMWARE_DIR / "host" / "tinyml_host_main.c"),
        str(gen.source),
        str(gen.out_dir / "tinyml_kernels.c"),
        "-o",
        str(exe),
    ]
    log = _run(cmd, "host build (gcc)")
    return FirmwareBuild(exe, cmd, "host", log=log)


def run_host(build: FirmwareBuild, x_int8: np.ndarray, output_size: int) -> np.ndarray:
    """Run every input through the host program in ONE process; returns (N, output_size)."""
    x = np.ascontiguousarray(np.asarray(x_int8, np.int8).reshape(len(x_int8), -1))
    work = build.path.parent
    inp, outp = work / f"{build.path.name}_in.bin", work / f"{build.path.name}_out.bin"
    x.tofile(inp)
    _run([str(build.path), str(inp), str(outp)], f"running {build.path.name}", timeout=600)
    y = np.fromfile(outp, np.int8)
    return y.reshape(len(x), output_size)


# ----------------------------------------------------------------------------- Cortex-M4F


def parse_size(text: str) -> tuple[int, int, int]:
    """(text, data, bss) from Berkeley-format ``size`` output."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
            return int(parts[0]), int(parts[1]), int(parts[2])
    raise BuildError(f"cannot read sizes from:\n{text}")


def build_cortex_m(
    gen: GeneratedModel,
    x_int8: np.ndarray,
    y_int8: np.ndarray,
    build_dir: str | Path,
    main: str = "test",
    extra_flags: tuple[str, ...] = (),
) -> FirmwareBuild:
    """Firmware for the MPS2-AN386 board (Cortex-M4F, QEMU ``-M mps2-an386``).

    ``main="test"`` compares every embedded input's output on the target (exit code 0 =
    all equal); ``main="bench"`` runs one inference between the marker functions
    ``tinyml_bench_begin/end`` for the instruction counter.
    """
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-size")
    if main not in ("test", "bench"):
        raise TinyMLError(f"main must be 'test' or 'bench', got {main!r}.")
    out = Path(build_dir)
    vec_dir = out / f"vectors_{main}"
    write_test_vectors(vec_dir, gen, x_int8, y_int8)
    elf = out / f"{gen.name}_{main}.elf"
    fw = FIRMWARE_DIR / "cortex_m"
    cmd = [
        "arm-none-eabi-gcc",
        *CORTEX_M4F_FLAGS,
        *extra_flags,
        f"-I{gen.out_dir}",
        f"-I{vec_dir}",
        f"-I{fw}",
        str(fw / "startup.c"),
        str(fw / "semihost.c"),
        str(fw / f"{main}_main.c"),
        str(gen.source),
        str(gen.out_dir / "tinyml_kernels.c"),
        str(vec_dir / "test_vectors.c"),
        *MPS2_LINK_FLAGS,
        "-o",
        str(elf),
    ]
    log = _run(cmd, "Cortex-M4F build (arm-none-eabi-gcc)")
    text, data, bss = parse_size(_run(["arm-none-eabi-size", str(elf)], "arm-none-eabi-size"))
    return FirmwareBuild(elf, cmd, "mps2-an386", text, data, bss, log)


# ----------------------------------------------------------------------------- AVR (Arduino)


def build_avr(
    gen: GeneratedModel,
    x_int8: np.ndarray,
    y_int8: np.ndarray,
    build_dir: str | Path,
    board: str = "uno",
) -> FirmwareBuild:
    """The Arduino sketch ``firmware/avr/tinyml_avr`` with the model and test vectors, built
    by arduino-builder for ``board`` ("uno": ATmega328P, "mega": ATmega2560).

    Weights, op parameters and test vectors are in flash (PROGMEM). Raises BuildError when
    the program does not fit the board (arduino-builder checks flash and SRAM; static RAM
    must leave AVR_STACK_RESERVE bytes for the stack).
    """
    require_tools("arduino-builder", "avr-gcc", "avr-size")
    if board not in AVR_BOARDS:
        raise TinyMLError(f"board must be one of {sorted(AVR_BOARDS)}, got {board!r}.")
    fqbn = AVR_BOARDS[board][0]
    out = Path(build_dir).resolve()
    sketch = out / "tinyml_avr"
    if sketch.exists():
        shutil.rmtree(sketch)
    sketch.mkdir(parents=True)
    shutil.copyfile(
        FIRMWARE_DIR / "avr" / "tinyml_avr" / "tinyml_avr.ino", sketch / "tinyml_avr.ino"
    )
    for f in gen.files:
        shutil.copyfile(f, sketch / f.name)
    write_test_vectors(sketch, gen, x_int8, y_int8)
    build_path = out / f"build_{board}"
    build_path.mkdir(parents=True, exist_ok=True)
    cmd = ["arduino-builder", "-compile"]
    for hw in ARDUINO_HARDWARE:
        cmd += ["-hardware", hw]
    cmd += [
        "-tools",
        "/usr/bin",
        "-fqbn",
        fqbn,
        "-build-path",
        str(build_path),
        "-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=__DECIMAL_DIG__",
        str(sketch / "tinyml_avr.ino"),
    ]
    log = _run(cmd, f"Arduino {board} build (arduino-builder)")
    if re.search(r"not enough memory|Sketch too big", log, re.I):
        raise BuildError(f"the sketch does not fit the Arduino {board}:\n{log[-1500:]}")
    elf = build_path / "tinyml_avr.ino.elf"
    text, data, bss = parse_size(_run(["avr-size", str(elf)], "avr-size"))
    sram = AVR_BOARDS[board][3]
    if data + bss > sram - AVR_STACK_RESERVE:
        raise BuildError(
            f"the sketch does not fit the Arduino {board}: {data + bss} B of static RAM leave "
            f"less than {AVR_STACK_RESERVE} B of its {sram} B for the stack; use a board with "
            "more SRAM (e.g. board='mega')."
        )
    return FirmwareBuild(elf, cmd, board, text, data, bss, log)
