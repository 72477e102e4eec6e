"""How fast is the benchmarking tool? Seconds per model, written to benchmarks/.

    .venv/bin/python scripts/benchmark_analyzer.py [--repeats 20] [--runs 50]

For each model (the reference models in models/<app>/ when present, plus the small sample
models of tinyml_utils.analyze.samples in four variants) it times:

* ``structure_s``: reading + validating the file, tensor/op tables, TFLM support check,
  the greedy arena plan and the MAC count (mean over ``--repeats`` calls);
* ``full_s``: one complete ``benchmark()`` call (structure + TFLM arena probes in child
  processes + TFLite load check + latency with ``--runs`` inferences, no plots), with the
  arena and load-check caches cleared first.

Writes ``benchmarks/analyzer_speed.csv/.md`` and, from the same runs,
``benchmarks/planned_vs_measured.csv/.md`` (planned arena peak vs TFLM's measured arena).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # run with the project's .venv/bin/python


def _models() -> dict[str, bytes]:
    from tinyml_utils.analyze import samples

    found: dict[str, bytes] = {}
    for path in sorted((ROOT / "models").glob("*/model_*.tflite")):
        found[f"{path.parent.name}/{path.stem}"] = path.read_bytes()
    for label, spec in (("sample_1d", samples.SPEC_1D), ("sample_2d", samples.SPEC_2D)):
        for variant, data in samples.sample_models(spec).items():
            found[f"{label}/{variant}"] = data
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "benchmarks"))
    args = parser.parse_args(argv)

    import pandas as pd

    from tinyml_utils.analyze import latency
    from tinyml_utils.analyze.benchmark import analyze_structure, benchmark
    from tinyml_utils.tflite import tflm

    rows, planned = [], []
    for name, data in _models().items():
        analyze_structure(data)  # warm imports and caches of the schema module
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            mb = analyze_structure(data, name)
        structure = (time.perf_counter() - t0) / args.repeats
        tflm._CACHE.clear()
        latency._CHECKED.clear()
        t0 = time.perf_counter()
        report = benchmark({name: data}, runs=args.runs, plots=False)
        full = time.perf_counter() - t0
        m = report.models[0]
        planned.append(report.planned_vs_measured())
        rows.append(
            {
                "model": name,
                "file_bytes": len(data),
                "ops": len(mb.info.ops),
                "tensors": len(mb.info.tensors),
                "structure_s": round(structure, 4),
                "full_s": round(full, 3),
                "arena_s": round(m.seconds.get("arena", 0.0), 3),
                "arena_probes": m.arena.probes if m.arena else None,
                "latency_s": round(m.seconds.get("latency", 0.0), 3),
                "tflm_runs": m.arena.runs if m.arena else None,
            }
        )
        print(f"{name}: structure {structure * 1000:.1f} ms, full {full:.2f} s", flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "analyzer_speed.csv", index=False)
    header = (
        "# Benchmarking tool speed (seconds per model)\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s) (shared), Python "
        f"{platform.python_version()}; {args.repeats} repeats of the structure analysis, "
        f"{args.runs} latency runs. Written by scripts/benchmark_analyzer.py.\n\n"
        f"Mean structure+plan+MACs: {table['structure_s'].mean() * 1000:.1f} ms per model; "
        f"mean full benchmark: {table['full_s'].mean():.2f} s per model.\n\n"
    )
    (out / "analyzer_speed.md").write_text(header + table.to_markdown(index=False) + "\n")
    pvm = pd.concat(planned, ignore_index=True)
    pvm.to_csv(out / "planned_vs_measured.csv", index=False)
    (out / "planned_vs_measured.md").write_text(
        "# Planned arena peak vs measured TFLM arena (bytes)\n\n"
        + pvm.to_markdown(index=False)
        + "\n\nhead = TFLM's planned activations (compare with planned_peak_bytes), tail = "
        "persistent structs and op data; the smallest working arena can exceed the recorded "
        "use because the planner needs scratch memory while allocating.\n"
    )
    print(f"wrote {out / 'analyzer_speed.csv'}, analyzer_speed.md, planned_vs_measured.*")
    return 0


if __name__ == "__main__":
    sys.exit(main())
