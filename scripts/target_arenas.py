#!/usr/bin/env python
"""Measure the TFLM arena of every committed int8 reference model on the 32-bit target.

    .venv/bin/python scripts/target_arenas.py [--models models]

For each models/<name>/model_int8.tflite: TFLM + CMSIS-NN built for a Cortex-M4F (the pinned
commits, scripts/build_tflm.sh) with the model, and the smallest arena that allocates AND
invokes bisected on the emulated board (QEMU mps2-an386): tinyml_utils.deploy.target_arena.
Records it as "target_arena" in models/<name>/metrics.json (nothing else there changes; the
arena target is judged on it) and rewrites models/results.csv and models/RESULTS.md.
`tinyml train-reference` does the same for the model it trains; this script re-measures the
committed set without retraining. Needs the firmware toolchains
(scripts/install_firmware_tools.sh).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from tinyml_utils.apps.reference import set_target_arena, update_results
from tinyml_utils.core.files import atomic_write_text
from tinyml_utils.core.paths import models_dir
from tinyml_utils.deploy.target_arena import measure_target_arena


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=models_dir(), help="models folder")
    args = parser.parse_args(argv)
    folders = sorted(p.parent for p in args.models.glob("*/metrics.json"))
    for folder in tqdm(folders, desc="target arenas", unit="model"):
        model = folder / "model_int8.tflite"
        if not model.is_file():
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        arena = measure_target_arena(model)
        host = {v["variant"]: v for v in metrics["variants"]}["int8"]["tflm_arena_bytes"]
        tqdm.write(f"{folder.name}: {arena:,} B on the Cortex-M4F, {host:,} B on the host")
        set_target_arena(metrics, arena)
        atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    csv_path, md_path = update_results(args.models)
    print(f"wrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
