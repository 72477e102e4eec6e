"""Leave-one-group-out evaluation: train on every group (user, subject) but one, test the
int8 file on the one left out, for every group in turn.

With few groups (CarSensor: 7 users) a single train/test split says little about a person
the model has never seen; leaving each one out in turn uses every group once as a test
person. The features are computed once; the normalisation is fitted per fold on its
training groups only, exactly as :func:`tinyml_utils.apps.prepare.prepare` does.

    from tinyml_utils.apps import louo
    result = louo.leave_one_group_out("carsensor", source="local", data_dir=...)
    result.per_group      # one row per held-out user: windows, recall per class, balanced
    result.pooled         # every fold's predictions together
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tinyml_utils.apps.prepare import (
    PreparedData,
    compute_features,
    default_spec,
    feature_params,
    load_dataset,
)
from tinyml_utils.apps.registry import get_app
from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F
from tinyml_utils.model import train
from tinyml_utils.model.cnn import build_cnn
from tinyml_utils.tflite.convert import convert


@dataclass
class LOGOResult:
    """Predictions of every fold, and the tables made from them.

    Attributes:
        per_group: one row per held-out group: examples, examples per class, recall per
            class, accuracy, balanced accuracy (NaN when the group holds one class only).
        pooled: :class:`tinyml_utils.model.train.EvalResult` of all folds' predictions.
        predictions: one row per example: group, label, prediction, score of class 1 and the
            per-example details of the dataset (e.g. recording, mode).
        params: the feature recipe (without a normalisation: each fold fits its own).
        runtime: "int8" (the int8 .tflite file, what a device runs) or "keras".
    """

    per_group: pd.DataFrame
    pooled: Any
    predictions: pd.DataFrame
    params: dict[str, Any] = field(repr=False)
    runtime: str = "int8"

    @property
    def mean_group_balanced_accuracy(self) -> float:
        """Mean over groups of their balanced accuracy (groups with both classes only)."""
        return float(np.nanmean(self.per_group["balanced_accuracy"]))

    def summary(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "pooled_balanced_accuracy": round(self.pooled.balanced_accuracy, 6),
            "pooled_accuracy": round(self.pooled.accuracy, 6),
            "mean_group_balanced_accuracy": round(self.mean_group_balanced_accuracy, 6),
            "worst_group": str(self.per_group["score"].idxmin()),
            "worst_group_score": round(float(self.per_group["score"].min()), 6),
        }


def _fold_data(app: str, x, y, groups, test_mask, class_names, params) -> PreparedData:
    a = get_app(app)
    norm = F.fit_normalization(x[~test_mask])

    def part(mask):
        return a.model_input(F.normalize(x[mask], norm), params).astype(np.float32)

    empty = part(np.zeros(len(y), bool))
    return PreparedData(
        app=app,
        x_train=part(~test_mask),
        y_train=np.asarray(y[~test_mask], np.int64),
        x_val=empty,
        y_val=np.zeros(0, np.int64),
        x_test=part(test_mask),
        y_test=np.asarray(y[test_mask], np.int64),
        class_names=list(class_names),
        split="leave one group out",
        preprocessing={**params, "normalization": norm},
        source="",
        groups_train=groups[~test_mask],
        groups_val=groups[:0],
        groups_test=groups[test_mask],
    )


def leave_one_group_out(
    app: str,
    source: str = "synthetic",
    data_dir: str | os.PathLike | None = None,
    epochs: int = 40,
    batch_size: int = 64,
    class_weight: str | None = "balanced",
    spec: dict[str, Any] | None = None,
    runtime: str = "int8",
    seed: int = 0,
    progress: bool = True,
    dataset=None,
    **options: Any,
) -> LOGOResult:
    """Train ``app``'s default model (``spec`` overrides) once per group with that group held
    out, and measure it on the held-out group (``runtime``: "int8" runs the int8 .tflite
    file, "keras" the float model). ``options``: the app's options (e.g. ``window_seconds``);
    ``dataset``: an already loaded Dataset (skips loading). Fixed epochs, no validation split
    (no group is spared for it)."""
    from tinyml_utils.core.progress import tqdm

    if runtime not in ("int8", "keras"):
        raise DataError(f"runtime must be 'int8' or 'keras', got {runtime!r}.")
    a = get_app(app)
    cfg = a.options(**options)
    ds = dataset
    if ds is None:
        load = {k: v for k, v in cfg.items() if k in a.load_options}
        ds = load_dataset(app, source, data_dir, seed, **load)
    params = feature_params(app, ds, cfg)
    x, y, groups, meta = compute_features(app, ds, params)
    groups = np.asarray(groups)
    names = np.unique(groups)
    if len(names) < 2:
        raise DataError(f"{app}: leave-one-group-out needs >= 2 groups, found {len(names)}.")
    pred = np.zeros(len(y), np.int64)
    score = np.zeros(len(y), np.float32)
    for g in tqdm(names, desc="leave one group out", disable=not progress):
        test = groups == g
        data = _fold_data(app, x, y, groups, test, ds.class_names, params)
        if len(np.unique(data.y_train)) < len(ds.class_names):
            raise DataError(f"without group {g!r} the training data lacks a class.")
        model = build_cnn(default_spec(app, data, **(spec or {})), seed=seed)
        train.train(
            model, data, epochs=epochs, batch_size=batch_size, seed=seed, verbose=0,
            class_weight=class_weight, patience=None,
        )  # fmt: skip
        if runtime == "int8":
            tflite = convert(model, "int8", representative_data=data.x_train, seed=seed)
            result = train.evaluate_tflite(tflite, data.x_test, data.y_test, data.class_names)
        else:
            result = train.evaluate_keras(model, data.x_test, data.y_test, data.class_names)
        pred[test] = result.y_pred
        if result.scores is not None:
            score[test] = np.asarray(result.scores).reshape(int(test.sum()), -1)[:, -1]
    pooled = train.evaluate_predictions(y, pred, list(ds.class_names))
    rows = []
    for g in names:
        m = groups == g
        row: dict[str, Any] = {"group": g, "examples": int(m.sum())}
        recalls = []
        for c, cname in enumerate(ds.class_names):
            mc = m & (y == c)
            row[f"n_{cname}"] = int(mc.sum())
            row[f"recall_{cname}"] = float(np.mean(pred[mc] == c)) if mc.any() else np.nan
            if mc.any():
                recalls.append(row[f"recall_{cname}"])
        row["accuracy"] = float(np.mean(pred[m] == y[m]))
        row["balanced_accuracy"] = (
            float(np.mean(recalls)) if len(recalls) == len(ds.class_names) else np.nan
        )
        # what can be scored for every group: balanced accuracy, or accuracy if one class
        row["score"] = (
            row["balanced_accuracy"] if not np.isnan(row["balanced_accuracy"]) else row["accuracy"]
        )
        rows.append(row)
    per_group = pd.DataFrame(rows).set_index("group")
    predictions = pd.DataFrame(
        {"group": groups, "label": y, "prediction": pred, "score": score}
        | {k: np.asarray(v) for k, v in meta.items()}
    )
    return LOGOResult(per_group, pooled, predictions, params, runtime)
