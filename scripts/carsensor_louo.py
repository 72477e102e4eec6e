"""CarSensor on the TMD recordings: leave-one-user-out (LOUO) measurements.

Writes, under results/carsensor/ (run from the repository root):

- ``data.csv``: minutes of recording and the phone's own median accelerometer rate per user
  and mode (why the loader resamples);
- ``sweep.csv``: LOUO balanced accuracy (Keras float model, all users pooled) for the
  resampling rate, the window length and the number of blocks (how the recipe was chosen);
- ``louo.csv`` / ``louo_modes.csv`` / ``louo.md``: the default recipe's int8 file, one
  row per held-out user (and recall per transport mode), the figures notebook 02 and
  models/RESULTS.md quote.

    PYTHONPATH=$PWD python scripts/carsensor_louo.py                 # ../shared/data/carsensor
    PYTHONPATH=$PWD python scripts/carsensor_louo.py --data-dir DIR --skip-sweep

Split: by user; every user of the data is the test user once (the two blind-holdout users
are not in the shared data and are never used). Seeded; about 10-20 minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.apps import carsensor as recipe
from tinyml_utils.apps import louo
from tinyml_utils.apps.prepare import load_dataset
from tinyml_utils.core.paths import repo_root, shared_data_dir
from tinyml_utils.model import train

#: (rate Hz, window s, blocks): the default first, then one change at a time.
SWEEP = (
    (5.0, 60.0, 12),
    (2.0, 60.0, 12),
    (10.0, 60.0, 12),
    (5.0, 20.0, 4),
    (5.0, 30.0, 6),
    (5.0, 120.0, 24),
    (5.0, 60.0, 1),
)


def markdown(
    result: louo.LOGOResult,
    modes: pd.DataFrame,
    cfg: dict,
    seconds: float,
    seeds: pd.DataFrame,
    summaries: dict,
) -> str:
    s = result.summary()
    table = result.per_group.copy()
    lines = [
        "# CarSensor (TMD): leave-one-user-out, int8 file (seed 0 in detail)",
        "",
        "Written by `scripts/carsensor_louo.py`; do not edit by hand. Each user is the test "
        "user once; the model is trained on the other users only (fixed epochs, no "
        "validation split), converted to int8 and the int8 file is run on the held-out "
        "user's windows.",
        "",
        f"Recipe: {cfg}. Runtime: {s['runtime']}; {seconds:.0f} s.",
        "",
        f"- Pooled over all users: balanced accuracy **{s['pooled_balanced_accuracy']:.2%}**, "
        f"accuracy {s['pooled_accuracy']:.2%}.",
        f"- Mean over users with both classes of their balanced accuracy: "
        f"{s['mean_group_balanced_accuracy']:.2%}; worst user {s['worst_group']} "
        f"({s['worst_group_score']:.2%}).",
        "- Users with one class only (e.g. car recordings only) have no balanced accuracy: "
        "their score is the accuracy, i.e. the recall of that class.",
        "",
        "| user | windows | not in vehicle | in vehicle | recall not | recall in | "
        "balanced acc. | accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def pct(v):
        return "-" if pd.isna(v) else f"{v:.2%}"

    for user, r in table.iterrows():
        lines.append(
            f"| {user} | {int(r['examples'])} | {int(r['n_not_in_vehicle'])} | "
            f"{int(r['n_in_vehicle'])} | "
            f"{pct(r['recall_not_in_vehicle'])} | {pct(r['recall_in_vehicle'])} | "
            f"{pct(r['balanced_accuracy'])} | {pct(r['accuracy'])} |"
        )
    over = summaries["pooled_balanced_accuracy_over_seeds"]
    lines += [
        "",
        f"Spread over {over['seeds']} training seeds (same split, same data): pooled balanced "
        f"accuracy {over['min']:.2%} to {over['max']:.2%} (mean {over['mean']:.2%}). "
        "Score per user and seed (balanced accuracy, or accuracy for one-class users):",
        "",
    ]
    wide = seeds.pivot(index="group", columns="seed", values="score")
    lines.append("| user | " + " | ".join(f"seed {s}" for s in wide.columns) + " |")
    lines.append("|---|" + "---:|" * len(wide.columns))
    for user, r in wide.iterrows():
        lines.append(f"| {user} | " + " | ".join(f"{v:.2%}" for v in r) + " |")
    lines += ["", "Recall per transport mode (all users pooled, seed 0):", ""]
    lines += ["| mode | windows | recall |", "|---|---:|---:|"]
    for mode, r in modes.iterrows():
        lines.append(f"| {mode} | {int(r['windows'])} | {r['recall']:.2%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="TMD folder (default: shared data)")
    parser.add_argument("--out", default=None, help="output folder (default results/carsensor)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3, help="LOUO runs of the int8 recipe")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="redo the sweep from scratch")
    args = parser.parse_args(argv)
    train.configure_threads(1, 1)
    folder = args.data_dir or (shared_data_dir() / "carsensor")
    out = Path(args.out) if args.out else repo_root() / "results" / "carsensor"
    out.mkdir(parents=True, exist_ok=True)

    ds = load_dataset("carsensor", "local", folder)
    recipe.recording_table(ds).to_csv(out / "data.csv", index=False)
    print(f"{ds}; wrote {out / 'data.csv'}", flush=True)

    if args.fresh:
        (out / "sweep.csv").unlink(missing_ok=True)
    if not args.skip_sweep:
        done = pd.read_csv(out / "sweep.csv") if (out / "sweep.csv").exists() else None
        rows = [] if done is None else done.to_dict("records")  # resume an interrupted run
        for rate, window, blocks in SWEEP:
            if any(
                (r["rate_hz"], r["window_s"], r["blocks"]) == (rate, window, blocks) for r in rows
            ):
                continue
            t0 = time.perf_counter()
            d = (
                ds
                if rate == ds.sample_rate
                else load_dataset("carsensor", "local", folder, rate=rate)
            )
            r = louo.leave_one_group_out(
                "carsensor", dataset=d, epochs=args.epochs, runtime="keras",
                window_seconds=window, blocks=blocks,
            )  # fmt: skip
            s = r.summary()
            rows.append(
                {"rate_hz": rate, "window_s": window, "blocks": blocks,
                 "windows": len(r.predictions),
                 "pooled_balanced_accuracy": round(s["pooled_balanced_accuracy"], 4),
                 "mean_user_balanced_accuracy": round(s["mean_group_balanced_accuracy"], 4),
                 "worst_user": s["worst_group"], "worst_user_score": round(s["worst_group_score"], 4),
                 "seconds": round(time.perf_counter() - t0, 1)}
            )  # fmt: skip
            print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(out / "sweep.csv", index=False)

    t0 = time.perf_counter()
    results, summaries, long = {}, {}, []
    for seed in range(args.seeds):
        r = louo.leave_one_group_out(
            "carsensor", dataset=ds, epochs=args.epochs, runtime="int8", seed=seed
        )
        results[seed], summaries[f"seed_{seed}"] = r, r.summary()
        long.append(r.per_group.assign(seed=seed).reset_index())
        print(f"seed {seed}: {r.summary()}", flush=True)
    seconds = time.perf_counter() - t0
    result = results[0]
    pooled = [s["pooled_balanced_accuracy"] for s in summaries.values()]
    summaries["pooled_balanced_accuracy_over_seeds"] = {
        "mean": round(float(np.mean(pooled)), 6),
        "min": round(float(np.min(pooled)), 6),
        "max": round(float(np.max(pooled)), 6),
        "seeds": args.seeds,
    }
    (out / "louo.json").write_text(json.dumps(summaries, indent=1) + "\n", encoding="utf-8")
    seeds_table = pd.concat(long)[["seed", "group", "score", "balanced_accuracy", "accuracy"]]
    seeds_table.round(4).to_csv(out / "louo_seeds.csv", index=False)
    per_user = result.per_group.round(4)
    per_user.to_csv(out / "louo.csv")
    p = result.predictions
    modes = (
        p.assign(right=p["label"] == p["prediction"])
        .groupby("mode")
        .agg(windows=("right", "size"), recall=("right", "mean"))
        .reindex(["Still", "Walking", "Car", "Bus", "Train"])
        .dropna()
    )
    modes.round(4).to_csv(out / "louo_modes.csv")
    cfg = {k: result.params[k] for k in ("rate", "window", "hop", "blocks")}
    text = markdown(result, modes, cfg, seconds, seeds_table, summaries)
    (out / "louo.md").write_text(text, encoding="utf-8")
    print(per_user.to_string(), "\n", result.summary(), flush=True)
    print(f"wrote {out}/louo.csv, louo_modes.csv, louo.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
