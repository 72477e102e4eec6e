"""Cost of one inference on an (emulated) Cortex-M4F: exact instruction counts, flash, RAM.

QEMU does not emulate the DWT cycle counter and has no timing model, so the measure here is
the exact number of **instructions** executed for one inference, counted by a small QEMU TCG
plugin (``firmware/cortex_m/qemu_insn_plugin.c``) between two marker functions of the
benchmark firmware. An instruction is not a cycle: on a real Cortex-M4 loads take 2 cycles,
taken branches 2-4, SMLAD 1, so cycles are typically 1.2-1.6x the instruction count, plus
flash wait states. "ms at 64 MHz" below is instructions / 64e6, i.e. the 1-cycle-per-
instruction lower bound at the nRF52840's clock.

``-DTML_LAYER_MARKS`` makes the generated code call ``tml_layer_mark()`` before each op, so
the plugin also gives the cost per layer (a few instructions of call overhead per layer).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.deploy import codegen, emulators, reference, toolchains

CLOCK_HZ = 64_000_000
KERNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass
class McuBenchmark:
    """One model's cost on the Cortex-M4F (see the module docstring)."""

    name: str
    instructions: int
    macs: int
    flash: int
    ram: int
    arena_bytes: int
    weights_bytes: int
    layers: list[dict] = field(default_factory=list)
    scratch_bytes: int = 0  # the DSP kernels' widened-input buffer (0 for the portable C)

    @property
    def instructions_per_mac(self) -> float:
        return self.instructions / self.macs if self.macs else float("nan")

    @property
    def kernel_instructions_per_mac(self) -> float:
        """Instructions of the conv / depthwise / fully-connected layers per MAC."""
        ins = sum(row["instructions"] for row in self.layers if row["op"] in KERNEL_OPS)
        macs = sum(row["macs"] for row in self.layers if row["op"] in KERNEL_OPS)
        return ins / macs if macs else float("nan")

    @property
    def ms_at_64mhz(self) -> float:
        return 1000.0 * self.instructions / CLOCK_HZ


def build_plugin(out_dir: str | Path) -> Path:
    """Compile the instruction-counting QEMU plugin (a shared library) with gcc."""
    toolchains.require_tools("gcc")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lib = out / "libqemu_insn_plugin.so"
    src = toolchains.FIRMWARE_DIR / "cortex_m" / "qemu_insn_plugin.c"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o", str(lib), str(src)],
        check=True,
    )
    return lib


def _symbols(elf: Path) -> dict[str, int]:
    nm = subprocess.run(
        ["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    table = {}
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3:
            table[parts[2]] = int(parts[0], 16) & ~1  # clear the Thumb bit
    return table


def benchmark(
    model: bytes | str | Path,
    name: str,
    x_int8: np.ndarray,
    out_dir: str | Path,
    plugin: Path | None = None,
    dsp: bool = True,
) -> McuBenchmark:
    """Generate, build the benchmark firmware, run it under QEMU with the counting plugin.

    ``dsp=False`` builds the portable C kernels (``-DTML_DSP=0``, what an AVR or a Cortex-M0
    runs) for the same Cortex-M4F, to show what the DSP kernels gain.
    """
    toolchains.require_tools("arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm")
    out = Path(out_dir)
    gen = codegen.generate(model, name, out / name)
    x = np.asarray(x_int8, np.int8).reshape(-1, gen.input_size)[:1]
    y = reference.reference_outputs(model, x)
    flags = ("-DTML_LAYER_MARKS",) + (() if dsp else ("-DTML_DSP=0",))
    build = toolchains.build_cortex_m(
        gen,
        x,
        y,
        out / name / ("bench" if dsp else "bench_portable"),
        main="bench",
        extra_flags=flags,
    )
    plugin = plugin or build_plugin(out)
    sym = _symbols(build.path)
    run = emulators.run_qemu(
        build.path,
        plugin=plugin,
        plugin_args={
            "begin": hex(sym["tinyml_bench_begin"]),
            "end": hex(sym["tinyml_bench_end"]),
            "mark": hex(sym["tml_layer_mark"]),
        },
    )
    if run.returncode != 0 or "between_markers=" not in run.output:
        raise TinyMLError(f"benchmark firmware failed (exit {run.returncode}):\n{run.output}")
    total = int(run.output.split("between_markers=")[1].split()[0])
    marks = [int(v) for v in run.output.split("tinyml-marks:")[1].split()]
    layers = []
    for layer, start, stop in zip(gen.layers, marks[:-1], marks[1:], strict=False):
        layers.append({**layer, "instructions": stop - start})
    return McuBenchmark(
        name=name,
        instructions=total,
        macs=gen.macs,
        flash=build.flash,
        ram=build.ram,
        arena_bytes=gen.arena_bytes,
        weights_bytes=gen.dsp_weights_bytes if dsp else gen.weights_bytes,
        layers=layers,
        scratch_bytes=gen.scratch_bytes if dsp else 0,
    )
