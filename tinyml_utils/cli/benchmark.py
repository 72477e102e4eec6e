"""``tinyml benchmark``: every figure of one or more .tflite models, as tables, files and plots.

Examples::

    tinyml benchmark models/motionsense/model_int8.tflite
    tinyml benchmark model_float32.tflite model_int8.tflite --data test.npz --out build/bench
    tinyml benchmark models/*/model_*.tflite --dataset motionsense --runs 100 --threads 2
    tinyml benchmark models/motionsense/model_int8.tflite --target cortex-m4

``--target cortex-m4`` measures on the (emulated) microcontroller instead of the host: the
generated C and TFLM + CMSIS-NN built for a Cortex-M4F and run on QEMU mps2-an386
(instructions, a Cortex-M4 cycle estimate, flash, RAM, the arena on the 32-bit target and
the milliseconds at the clocks of the Cortex-M4 boards); needs the firmware toolchains.

It prints the comparison table and writes CSV / XLSX / Markdown / HTML / PNG files into
``--out`` (default ``build/benchmark``). A file that is not a usable model gets one line
saying what is wrong; the exit code is then 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.analyze.benchmark import app_test_data, benchmark
from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.files import OutputLock, output_folder
from tinyml_utils.core.paths import build_dir
from tinyml_utils.deploy import reference, target_bench

HELP = "benchmark one or more .tflite models (structure, arena, MACs, latency, accuracy)"

_SHOWN = [
    "model",
    "file_bytes",
    "weights",
    "macs",
    "planned_peak_bytes",
    "tflm_arena_bytes",
    "tflm_runs",
    "median_ms",
    "accuracy",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", metavar="MODEL.tflite", help=".tflite file(s)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="FILE.npz", help="labelled data: arrays x and y")
    source.add_argument(
        "--dataset", metavar="APP", help="a workbook app's test split (tinyml_utils.apps)"
    )
    parser.add_argument(
        "--source",
        default="synthetic",
        help="with --dataset: synthetic (default), local or download",
    )
    parser.add_argument("--data-dir", default=None, help="with --dataset: the real data folder")
    parser.add_argument(
        "--quick", action="store_true", help="with --dataset: the small quick-mode data"
    )
    parser.add_argument("--runs", type=int, default=50, help="timed inferences (default 50)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm-up inferences")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--out", default=None, help="output folder (default build/benchmark)")
    parser.add_argument("--no-arena", action="store_true", help="skip the TFLM arena probe")
    parser.add_argument("--no-latency", action="store_true", help="skip latency")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--target",
        choices=("host", "cortex-m4"),
        default="host",
        help="host (default) or cortex-m4: instructions, cycle estimate, flash, RAM and ms on "
        "an emulated Cortex-M4F (generated C and TFLM + CMSIS-NN)",
    )


def _run_target(args: argparse.Namespace, data, out: str) -> int:
    """``--target cortex-m4``: one row per model x implementation, CSV in ``out``."""
    frames, errors = [], []
    for path in args.models:
        try:
            x = None
            if data is not None:
                xs = np.load(data)["x"] if isinstance(data, str) else data.x
                x = reference.quantize_input(path, np.asarray(xs[:4], np.float32))
            frames.append(target_bench.target_benchmark(path, Path(path).name, x))
        except (TinyMLError, OSError, KeyError, ValueError) as exc:
            errors.append(f"{path}: {exc}")
    if frames:
        table = pd.concat(frames, ignore_index=True)
        Path(out).mkdir(parents=True, exist_ok=True)
        table.to_csv(Path(out) / "target_cortex_m4.csv", index=False)
        print(table.to_markdown(index=False))
        print(
            "instructions: exact (QEMU mps2-an386, counting plugin); cycles_estimate and ms: "
            "an ESTIMATE from the Cortex-M4 TRM timings, zero flash wait states; arena_bytes: "
            "TFLM's smallest arena on the 32-bit target (host_arena_bytes: the 64-bit host "
            "runtime's, for comparison); "
            f"wrote {Path(out) / 'target_cortex_m4.csv'}"
        )
    for line in errors:
        print(f"tinyml benchmark: error: {line}", file=sys.stderr)
    return 2 if errors else 0


def run(args: argparse.Namespace) -> int:
    # the folder is checked and locked before any work: a second run into it stops at once
    out = output_folder(args.out or build_dir() / "benchmark")
    with OutputLock(out, "tinyml benchmark"):
        data = args.data
        if args.dataset:
            data = app_test_data(
                args.dataset, source=args.source, data_dir=args.data_dir, quick=args.quick
            )
        if args.target == "cortex-m4":
            return _run_target(args, data, str(out))
        report = benchmark(
            args.models,
            data=data,
            runs=args.runs,
            warmup=args.warmup,
            threads=args.threads,
            out_dir=out,
            arena=not args.no_arena,
            latency=not args.no_latency,
            plots=not args.no_plots,
            progress=len(args.models) > 1,
        )
    table = report.comparison
    shown = table[[c for c in _SHOWN if c in table.columns]].copy()
    if "tflm_runs" in shown:
        shown["tflm_runs"] = [
            "" if v is None or v != v else ("yes" if v else "no") for v in shown["tflm_runs"]
        ]
    shown = shown.rename(columns={"tflm_arena_bytes": "tflm_arena_bytes (64-bit host)"})
    try:
        print(shown.to_markdown(index=False))
    except ImportError:
        print(shown.to_string(index=False))
    if "tflm_arena_bytes (64-bit host)" in shown:
        print(
            "tflm_arena_bytes: the Python TFLM runtime on this 64-bit host; a 32-bit "
            "microcontroller needs less (pointers are half as wide): `--target cortex-m4` "
            "measures it on the emulated board."
        )
    errors = list(report.errors)
    for m in report.models:
        if m.arena is not None and not m.arena.runs:
            print(f"{m.name}: {m.arena.reason}")
        if m.latency_error:
            print(f"{m.name}: latency not measured: {m.latency_error}")
        if m.accuracy and "accuracy_error" in m.accuracy:  # asked for and not given: an error
            errors.append(f"{m.name}: accuracy not measured: {m.accuracy['accuracy_error']}")
    if report.data_description:
        print(f"accuracy measured on: {report.data_description}")
    print(f"wrote {len(report.files)} files to {out} (summary.md, benchmark.xlsx, ...)")
    for line in errors:
        print(f"tinyml benchmark: error: {line}", file=sys.stderr)
    return 2 if errors else 0
