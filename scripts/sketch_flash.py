#!/usr/bin/env python
"""Flash and RAM of the committed TFLM sketches' inference core, int8-only vs default kernels.

    .venv/bin/python scripts/sketch_flash.py [--out benchmarks/mcu]

For each firmware/arduino/<app>/ sketch: its setup() (model array, op resolver, kArenaBytes)
and inference, compiled against TFLM 90b983c2 + CMSIS-NN 4ab83cc3 for the Cortex-M4F and run
on QEMU mps2-an386 (tinyml_utils.deploy.tflm_equivalence.run_sketch_core), once as committed
(int8-only registrations, `AddConv2D(tflite::Register_CONV_2D_INT8())`) and once with the
default registrations (`AddConv2D()`). Flash = text + data, RAM = data + bss, of the whole
firmware (startup code, semihosting and the sketch's test inputs included, so compare the
two columns, not with peers.csv). Writes sketch_flash.csv and sketch_flash.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.core.paths import models_dir, repo_root
from tinyml_utils.deploy import examples, op_resolver, target_bench, tflm_equivalence, tflm_target


def measure(app: str, n_inputs: int = 4) -> dict:
    model = (models_dir() / app / "model_int8.tflite").read_bytes()
    ops = sorted(set(op_resolver.model_ops(model)) | target_bench.workbook_ops())
    lib = tflm_target.library("cmsis_nn", ops)
    x = examples.app_inputs(app, n_inputs).x
    row, outputs = {"app": app}, {}
    with tempfile.TemporaryDirectory(prefix="sketch_flash_") as tmp:
        for kind in ("int8_only", "default"):
            folder = Path(tmp) / kind / app
            shutil.copytree(repo_root() / "firmware" / "arduino" / app, folder)
            ino = folder / f"{app}.ino"
            if kind == "default":
                text = ino.read_text()
                committed = op_resolver.resolver_code(model)
                if committed not in text:
                    raise SystemExit(f"{ino}: stale resolver; regenerate it with tinyml export")
                ino.write_text(
                    text.replace(committed, op_resolver.resolver_code(model, int8=False))
                )
            out = Path(tmp) / kind / "build"
            outputs[kind] = tflm_equivalence.run_sketch_core(lib, folder, x, out)
            flash, ram = tflm_target._sizes(next(out.glob("*_sketch.elf")))
            row[f"flash_{kind}"], row[f"ram_{kind}"] = flash, ram
    row["flash_saved"] = row["flash_default"] - row["flash_int8_only"]
    row["outputs_equal"] = bool(np.array_equal(outputs["int8_only"], outputs["default"]))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=repo_root() / "benchmarks" / "mcu")
    args = parser.parse_args(argv)
    apps = sorted(p.parent.name for p in (repo_root() / "firmware" / "arduino").glob("*/*.ino"))
    table = pd.DataFrame([measure(app) for app in apps])
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "sketch_flash.csv", index=False)
    (args.out / "sketch_flash.md").write_text(
        "# TFLM sketches: int8-only kernel registrations vs the default ones\n\n"
        "Written by `scripts/sketch_flash.py` (see its docstring): the committed sketches' "
        "inference core on the emulated Cortex-M4F, TFLM + CMSIS-NN, Debian "
        "arm-none-eabi-gcc, bytes.\n\n" + table.to_markdown(index=False) + "\n"
    )
    print(table.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
