"""Run firmware on emulated microcontrollers: QEMU (Cortex-M4F board MPS2-AN386) and simavr
(ATmega328P / ATmega2560).

* QEMU runs the ELF with semihosting: the firmware prints through the emulator and ends with
  ``SYS_EXIT_EXTENDED``, whose code becomes QEMU's exit status (0 = every output matched).
* simavr runs the Arduino sketch's ELF at 16 MHz and prints what the sketch writes to the
  UART (Serial); the sketch ends with ``cli(); sleep_cpu();``, which makes simavr exit.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.deploy.toolchains import require_tools

QEMU_MACHINE = "mps2-an386"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class EmulatorError(TinyMLError, RuntimeError):
    """The emulator could not run the firmware (timeout, crash)."""


@dataclass
class EmulatorRun:
    """What the emulated program printed, its exit status and the wall time."""

    returncode: int
    output: str
    seconds: float


def run_qemu(
    elf: str | Path,
    timeout: float = 300,
    plugin: str | Path | None = None,
    plugin_args: dict[str, str] | None = None,
) -> EmulatorRun:
    """``qemu-system-arm -M mps2-an386 -nographic -semihosting-config enable=on,target=native
    -kernel elf`` (+ ``-plugin`` for the instruction counter)."""
    require_tools("qemu-system-arm")
    cmd = [
        "qemu-system-arm",
        "-M",
        QEMU_MACHINE,
        "-nographic",
        "-monitor",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
    ]
    if plugin is not None:
        spec = str(plugin) + "".join(f",{k}={v}" for k, v in (plugin_args or {}).items())
        cmd += ["-plugin", spec, "-d", "plugin"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise EmulatorError(f"QEMU did not finish within {timeout:.0f} s: {' '.join(cmd)}") from exc
    return EmulatorRun(proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start)


def run_simavr(
    elf: str | Path, mcu: str = "atmega328p", freq: int = 16_000_000, timeout: float = 300
) -> EmulatorRun:
    """``simavr -m mcu -f freq elf``; returns the UART text (colour codes and simavr's own
    'Loaded ...' lines removed)."""
    require_tools("simavr")
    cmd = ["simavr", "-m", mcu, "-f", str(freq), str(elf)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise EmulatorError(
            f"simavr did not finish within {timeout:.0f} s (does the sketch end with "
            "cli(); sleep_cpu();?)"
        ) from exc
    text = _ANSI.sub("", proc.stdout + proc.stderr)
    lines = [
        ln.rstrip(".").rstrip()
        for ln in text.splitlines()
        if not re.match(r"^(Loaded \d+|simavr:|avr_\w+:)", ln.strip())
    ]
    return EmulatorRun(proc.returncode, "\n".join(lines), time.perf_counter() - start)
