"""Reading a search study back: its trials as a table, its Pareto front, its history.

Every function reads the study's storage, so it shows every worker's trials (a shared
PostgreSQL study as well as the notebook's SQLite file), and works on a study that another
process is still adding to.

    table = trials_table(study)     # one row per trial: state, spec, sizes, accuracy, why
    measured = completed(table)     # the measured candidates (for add_loss, plot_pareto)
    front = front_table(study)      # study.best_trials: the multi-objective Pareto front
    fig = plot_history(table)       # accuracy against epochs trained, pruned trials marked
    compare_fronts({"grid": a, "tpe": b}, objectives)   # which front dominates which
"""

from __future__ import annotations

import json

import numpy as np
import optuna
import pandas as pd

from tinyml_utils.model.cnn import CNNSpec
from tinyml_utils.optimize.search import pareto_mask
from tinyml_utils.optimize.search_config import OBJECTIVES

TABLE_COLUMNS = [
    "trial",
    "state",
    "candidate",
    "N",
    "M",
    "Pi",
    "conv_filters",
    "dense_units",
    "params",
    "weights_bytes",
    "tflite_bytes",
    "arena_bytes",
    "macs",
    "epochs",
    "keras_val_accuracy",
    "val_accuracy",
    "val_accuracy_by_epoch",
    "same_as",
    "why",
    "worker",
    "spec_json",
    "model_file",
]


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of ``study``, read from its storage (any worker's).

    ``state`` is COMPLETE, PRUNED (``why`` says why), FAIL or RUNNING; ``pareto`` marks the
    study's Pareto front (feasible, duplicates dropped); ``feasible`` the board constraint.
    """
    front = {t.number for t in study.best_trials}
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        spec = CNNSpec.from_dict(json.loads(a["spec_json"])) if a.get("spec_json") else None
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "candidate": a.get("candidate", ""),
                "N": spec.n_conv if spec else t.params.get("N"),
                "M": spec.n_dense if spec else t.params.get("M"),
                "Pi": (spec.pools_per_block()[0] if spec.n_conv else 0)
                if spec
                else t.params.get("Pi"),
                "conv_filters": ("-".join(map(str, spec.conv_filters)) or "-") if spec else "",
                "dense_units": ("-".join(map(str, spec.dense_units)) or "-") if spec else "",
                **{k: a.get(k) for k in TABLE_COLUMNS[8:] if k not in ("trial", "state")},
                "feasible": all(v <= 0 for v in t.constraints.values()),
                "pareto": t.number in front and a.get("same_as") is None,
                "duration_s": t.duration.total_seconds() if t.duration else None,
            }
        )
    table = pd.DataFrame(rows, columns=[*TABLE_COLUMNS, "feasible", "pareto", "duration_s"])
    for col in ("params", "weights_bytes", "tflite_bytes", "arena_bytes", "macs", "epochs"):
        table[col] = table[col].astype("Int64")
    return table


def completed(table: pd.DataFrame) -> pd.DataFrame:
    """The measured candidates of a :func:`trials_table`: COMPLETE, not duplicates."""
    done = table[(table["state"] == "COMPLETE") & table["same_as"].isna()]
    return done.reset_index(drop=True)


def front_table(study: optuna.Study) -> pd.DataFrame:
    """The study's Pareto front (``study.best_trials``), as rows of :func:`trials_table`."""
    table = trials_table(study)
    return table[table["pareto"]].sort_values("weights_bytes").reset_index(drop=True)


def plot_history(table: pd.DataFrame, title: str = ""):
    """The trial history: each trial's accuracy against the epochs trained so far (all
    workers, in trial order); pruned trials at their last Keras accuracy, the best so far."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    t = table.sort_values("trial").copy()
    t["cumulative_epochs"] = t["epochs"].fillna(0).astype(int).cumsum()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    done = t[(t["state"] == "COMPLETE") & t["same_as"].isna()]
    ax.scatter(
        done["cumulative_epochs"], done["val_accuracy"].astype(float), s=22, label="complete"
    )
    pruned = t[(t["state"] == "PRUNED") & (t["epochs"].fillna(0) > 0)]
    if len(pruned):
        last = [curve[-1] for curve in pruned["val_accuracy_by_epoch"]]
        ax.scatter(
            pruned["cumulative_epochs"], last, s=22, marker="x", c="tab:red", label="pruned (Keras)"
        )
    best = done["val_accuracy"].astype(float).cummax()
    ax.step(done["cumulative_epochs"], best, where="post", c="0.3", lw=1, label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs: no fractional ticks
    ax.set_xlabel("epochs trained (all trials, cumulative)")
    ax.set_ylabel("val accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _dominated_by(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each row of ``points`` (lower is better everywhere), is some row of ``others`` at
    least as good in every column?"""
    if len(others) == 0:
        return np.zeros(len(points), dtype=bool)
    return np.array([bool(np.any(np.all(others <= p, axis=1))) for p in points])


def compare_fronts(
    tables: dict[str, pd.DataFrame],
    objectives: tuple[str, ...] = tuple(OBJECTIVES),
) -> pd.DataFrame:
    """Compare the Pareto fronts of several searches over the same objectives.

    ``tables`` maps a search's name to its measured candidates (:func:`completed`, or any
    table with the objective columns and ``epochs``). For each search: candidates
    measured, epochs trained, its front (over ``objectives``), the best validation
    accuracy, and ``covers <other>``: the share of the other search's front that some
    candidate of this search matches or beats in every objective (the C-metric; 1.0 means
    this search found everything the other one did, or better).
    """
    signs = np.array([-1.0 if OBJECTIVES[o] == "maximize" else 1.0 for o in objectives])
    fronts = {}
    for name, table in tables.items():
        pts = table[list(objectives)].astype(float).to_numpy()
        mask = pareto_mask(pts, [OBJECTIVES[o] == "maximize" for o in objectives])
        fronts[name] = (pts * signs, mask)
    rows = []
    for name, table in tables.items():
        pts, mask = fronts[name]
        row = {
            "search": name,
            "candidates": len(table),
            "epochs_trained": int(table["epochs"].fillna(0).sum()),
            "front_size": int(mask.sum()),
            "best_val_accuracy": float(table["val_accuracy"].astype(float).max()),
        }
        for other, (other_pts, other_mask) in fronts.items():
            if other != name:
                covered = _dominated_by(other_pts[other_mask], pts)
                row[f"covers {other}"] = round(float(covered.mean()), 3) if len(covered) else None
        rows.append(row)
    return pd.DataFrame(rows)
