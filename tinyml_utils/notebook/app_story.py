"""The parts every application notebook (01-04) shares, as one call each.

Each notebook tells its own app's story (data, features, model); from the trained Keras
model on, the steps are the same and live here, so the four notebooks cannot drift apart:

    result = app_story.evaluate(model, data, OUT)           # held-out groups, confusion
    table = app_story.convert(model, data, OUT, "motionsense")   # 4 .tflite files measured
    app_story.dynamic_range(table)                           # does TFLM run that file? why
    int8 = app_story.int8_on_tflm(table, data, OUT)          # the microcontroller's file
    app_story.save(OUT, data, result, table, int8)           # results.json + the reference row

Every sentence these print is chosen by the measured values, never hand-typed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tinyml_utils.core import report
from tinyml_utils.core.paths import models_dir, portable_source
from tinyml_utils.deploy.target_arena import arena_text, target_arena
from tinyml_utils.model import train
from tinyml_utils.tflite.tflm import classify_tflm_support

SYNTHETIC_NOTE = (
    "SYNTHETIC data: this number only shows that the pipeline works; it says nothing about "
    "the real task. Real figures: models/RESULTS.md (tinyml train-reference)."
)


def _show(fig) -> None:
    import matplotlib.pyplot as plt

    plt.show()
    plt.close(fig)


def evaluate(model, data, out: Path, title: str = "Keras float model, test split"):
    """Accuracy, per-class recall/precision and the confusion matrix on the test groups."""
    result = train.evaluate_keras(model, data.x_test, data.y_test, data.class_names)
    print(result)
    if data.source == "synthetic":
        print("\n" + SYNTHETIC_NOTE)
    report.save_table(result.per_class.reset_index(), out, "per_class_keras")
    fig = train.plot_confusion(result, title=title)
    report.save_figure(fig, out, "confusion_keras")
    _show(fig)
    return result


def convert(model, data, out: Path, stem: str) -> pd.DataFrame:
    """float32, float16, dynamic-range and int8 files, each measured (bytes, accuracy, TFLM)."""
    table = train.conversion_table(model, data, out_dir=Path(out) / "models", stem=stem)
    table.attrs["dir"] = str(Path(out) / "models")
    table.attrs["stem"] = stem
    report.save_table(table, out, "conversion_table")
    return table


def dynamic_range(table: pd.DataFrame) -> dict[str, Any]:
    """What the dynamic-range file is and whether TFLM runs it, in words chosen by the result."""
    path = Path(table.attrs["dir"]) / f"{table.attrs['stem']}_dynamic_range.tflite"
    support = classify_tflm_support(path)
    print(support.summary())
    rows = table.set_index("variant")
    row = rows.loc["dynamic_range"]
    runs = row["runs_on_tflm"] == "yes"
    print(f"\nTFLM runs it: {row['runs_on_tflm']} ({row['tflm_reason']})")
    if runs and int(row["weights_bytes"]) == int(rows.loc["float32", "weights_bytes"]):
        print(
            "Its weights take as many bytes as float32's: every layer has fewer than 1,024 "
            "weights, so the converter left them all in float. This 'dynamic-range' file is a "
            "float32 file in disguise, which is why TFLM runs it. A bigger model would get "
            "hybrid ops, which TFLM cannot run."
        )
    elif runs:
        print("TFLM runs this file: check the op list above for float kernels.")
    else:
        print(
            "Weights are int8 but activations stay float: the hybrid kernels that quantize "
            "activations on the fly do not exist in TFLM, so a microcontroller cannot run it."
        )
    return {"runs_on_tflm": runs, "reason": str(row["tflm_reason"])}


@dataclass
class Int8Check:
    """The int8 file run in TFLM and in TFLite (LiteRT) on the test split."""

    path: Path
    on_tflm: Any
    on_tflite: Any
    row: pd.Series
    target_arena_bytes: int | None = None

    @property
    def host_arena_bytes(self) -> int:
        return int(self.row["tflm_arena_bytes"])

    @property
    def arena_bytes(self) -> int:
        """The microcontroller's figure: the 32-bit target's when measured, else the host's."""
        return self.target_arena_bytes or self.host_arena_bytes

    @property
    def same_class(self) -> float:
        return float(np.mean(self.on_tflm.y_pred == self.on_tflite.y_pred))


def int8_on_tflm(table: pd.DataFrame, data, out: Path) -> Int8Check:
    """Run the int8 file in TFLM and TFLite; say how often they agree (measured, not assumed)."""
    path = Path(table.attrs["dir"]) / f"{table.attrs['stem']}_int8.tflite"
    on_tflm = train.evaluate_tflite(
        path, data.x_test, data.y_test, data.class_names, runtime="tflm"
    )
    on_tflite = train.evaluate_tflite(path, data.x_test, data.y_test, data.class_names)
    check = Int8Check(path, on_tflm, on_tflite, table.set_index("variant").loc["int8"])
    print(
        f"int8 accuracy: TFLM {on_tflm.accuracy:.2%}, TFLite {on_tflite.accuracy:.2%}; "
        f"same predicted class for {check.same_class:.2%} of the {len(data.y_test)} test inputs"
    )
    if check.same_class < 1:
        print(
            "TFLM and LiteRT's optimized kernels round some requantizations differently, so a "
            "prediction on the edge between two classes can flip."
        )
    row = check.row
    target = target_arena(path)
    check.target_arena_bytes = target.bytes
    print(
        f"int8 file: {int(row['model_bytes']):,} bytes, weights {int(row['weights_bytes']):,} "
        f"bytes, TFLM arena {arena_text(target.bytes, check.host_arena_bytes)}"
        + (f"; the target could not be measured here: {target.reason}" if target.reason else "")
    )
    fig = train.plot_confusion(on_tflm, title="int8 file in TFLM, test split")
    report.save_figure(fig, out, "confusion_int8_tflm")
    _show(fig)
    return check


def save(out: Path, data, result, table: pd.DataFrame, int8: Int8Check, **extra: Any) -> Path:
    """``results.json`` (what the runner collects) and ``preprocessing.json``; show the
    committed reference model of this app, labelled by the data it was really trained on."""
    rows = table.set_index("variant")
    path = report.save_results(
        out,
        data_source=portable_source(data.source),
        split=data.split,
        keras_accuracy=round(result.accuracy, 4),
        keras_balanced_accuracy=round(result.balanced_accuracy, 4),
        int8_accuracy=round(int8.on_tflite.accuracy, 4),
        int8_balanced_accuracy=round(int8.on_tflite.balanced_accuracy, 4),
        int8_accuracy_tflm=round(int8.on_tflm.accuracy, 4),
        int8_weights_bytes=int(int8.row["weights_bytes"]),
        int8_model_bytes=int(int8.row["model_bytes"]),
        int8_arena_bytes=int8.arena_bytes,
        int8_arena_bytes_target=int8.target_arena_bytes,
        int8_arena_bytes_host=int8.host_arena_bytes,
        dynamic_range_runs_on_tflm=str(rows.loc["dynamic_range", "runs_on_tflm"]),
        accuracy_claim=data.source != "synthetic",
        **extra,
    )
    (Path(out) / "preprocessing.json").write_text(json.dumps(data.preprocessing, indent=1))
    committed = committed_references(data.app)
    if len(committed):
        kinds = sorted(set(committed["data_source"].astype(str)))
        print(f"Committed reference models of {data.app} (data: {', '.join(kinds)}):")
        _display(committed)
    return path


def committed_references(app: str) -> pd.DataFrame:
    """The rows of ``models/results.csv`` for ``app`` (empty if the file is absent)."""
    results_csv = models_dir() / "results.csv"
    if not results_csv.exists():
        return pd.DataFrame()
    table = pd.read_csv(results_csv)
    columns = ["name", "data_source", "accuracy", "balanced_accuracy", "weights_bytes"]
    columns += [c for c in ("arena_bytes", "target_arena_bytes") if c in table]
    return table[table["app"] == app][columns].reset_index(drop=True)


def _display(obj) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python
        print(obj)
    else:
        display(obj)
