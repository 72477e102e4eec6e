#!/usr/bin/env python
"""Flash and RAM of the committed TFLM sketches' inference core: what registering ops costs.

    .venv/bin/python scripts/sketch_flash.py [--out benchmarks/mcu]

For each firmware/arduino/<app>/ sketch: its setup() (model array, op resolver, kArenaBytes)
and inference, compiled against TFLM 90b983c2 + CMSIS-NN 4ab83cc3 (the whole microlite
library, every kernel: scripts/build_tflm.sh without OPS, 6-7 minutes on 2 cores the first
time) for the Cortex-M4F and run on QEMU mps2-an386
(tinyml_utils.deploy.tflm_equivalence.run_sketch_core), three times:

* ``int8_only``: as committed, a MicroMutableOpResolver of exactly the model's ops with their
  int8-only kernels (``AddConv2D(tflite::Register_CONV_2D_INT8())``);
* ``default``: the same ops with their default registrations (``AddConv2D()``);
* ``all_ops``: every op TFLM's MicroMutableOpResolver can register with its default
  registration (what the removed AllOpsResolver did): the flash a "just register everything"
  sketch pays.

Flash = text + data, RAM = data + bss, of the whole firmware (startup code, semihosting and
the sketch's test inputs included, so compare the columns, not with peers.csv); the outputs
of the three builds must be equal. Writes sketch_flash.csv and sketch_flash.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.core.paths import models_dir, repo_root
from tinyml_utils.deploy import examples, op_resolver, tflm_equivalence, tflm_target

KINDS = ("int8_only", "default", "all_ops")


def registrable_methods(header: str) -> list[str]:
    """The ``AddXxx`` methods of TFLM's micro_mutable_op_resolver.h callable without
    arguments (every parameter has a default: the op's default registration)."""
    methods = []
    for found in re.finditer(r"TfLiteStatus (Add\w+)\(", header):
        depth, i = 1, found.end()
        while depth:  # the parameter list, with nested Register_X() defaults
            depth += {"(": 1, ")": -1}.get(header[i], 0)
            i += 1
        params = [p for p in re.split(r",(?![^(]*\))", header[found.end() : i - 1]) if p.strip()]
        if all("=" in p for p in params) and found.group(1) not in methods:
            methods.append(found.group(1))
    return methods


def all_ops_resolver(methods: list[str]) -> str:
    lines = [
        f"// every op TFLM can register ({len(methods)}), as the removed AllOpsResolver did",
        f"static tflite::MicroMutableOpResolver<{len(methods)}> op_resolver;",
        "",
        "static TfLiteStatus RegisterOps() {",
    ]
    lines += [f"  if (op_resolver.{m}() != kTfLiteOk) return kTfLiteError;" for m in methods]
    return "\n".join([*lines, "  return kTfLiteOk;", "}"]) + "\n"


def measure(app: str, lib, methods: list[str], n_inputs: int = 4) -> dict:
    model = (models_dir() / app / "model_int8.tflite").read_bytes()
    x = examples.app_inputs(app, n_inputs).x
    row, outputs = {"app": app}, {}
    committed = op_resolver.resolver_code(model)
    variants = {
        "int8_only": committed,
        "default": op_resolver.resolver_code(model, int8=False),
        "all_ops": all_ops_resolver(methods),
    }
    with tempfile.TemporaryDirectory(prefix="sketch_flash_") as tmp:
        for kind in KINDS:
            folder = Path(tmp) / kind / app
            shutil.copytree(repo_root() / "firmware" / "arduino" / app, folder)
            ino = folder / f"{app}.ino"
            text = ino.read_text()
            if committed not in text:
                raise SystemExit(f"{ino}: stale resolver; regenerate it with tinyml export")
            ino.write_text(text.replace(committed, variants[kind]))
            out = Path(tmp) / kind / "build"
            outputs[kind] = tflm_equivalence.run_sketch_core(lib, folder, x, out)
            flash, ram = tflm_target.elf_sizes(next(out.glob("*_sketch.elf")))
            row[f"flash_{kind}"], row[f"ram_{kind}"] = flash, ram
    row["flash_saved_vs_default"] = row["flash_default"] - row["flash_int8_only"]
    row["flash_saved_vs_all_ops"] = row["flash_all_ops"] - row["flash_int8_only"]
    row["outputs_equal"] = all(np.array_equal(outputs["int8_only"], outputs[k]) for k in KINDS)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=repo_root() / "benchmarks" / "mcu")
    args = parser.parse_args(argv)
    apps = sorted(p.parent.name for p in (repo_root() / "firmware" / "arduino").glob("*/*.ino"))
    lib = tflm_target.library("cmsis_nn", None)  # every kernel
    header = next(
        p for p in lib.includes if p.startswith("-I") and Path(p[2:], "tensorflow").is_dir()
    )
    resolver_h = Path(header[2:]) / "tensorflow/lite/micro/micro_mutable_op_resolver.h"
    methods = registrable_methods(resolver_h.read_text())
    print(f"{len(methods)} ops registrable without arguments in {resolver_h.name}")
    table = pd.DataFrame([measure(app, lib, methods) for app in apps])
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "sketch_flash.csv", index=False)
    (args.out / "sketch_flash.md").write_text(
        "# TFLM sketches: what registering ops costs in flash\n\n"
        "Written by `scripts/sketch_flash.py` (see its docstring): the committed sketches' "
        "inference core on the emulated Cortex-M4F, TFLM + CMSIS-NN, Debian "
        "arm-none-eabi-gcc, bytes.\n\n" + table.to_markdown(index=False) + "\n"
    )
    print(table.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
