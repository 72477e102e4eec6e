"""``tinyml evaluate``: measure a .tflite model on a data folder in the dataset's own layout.

    tinyml evaluate --app motionsense --data /path/to/holdout models/motionsense/model_int8.tflite

The folder is read with the dataset loaders (original layouts:
``A_DeviceMotion_data/<trial>/sub_<n>.csv[.gz]`` + ``data_subjects_info.csv``;
``<word>/<file>.wav``; the GTZAN ``features_30_sec.csv``), then preprocessed EXACTLY as for
training, with the recipe saved next to the model (``preprocessing.json``: windows or
spectrogram parameters and the normalisation fitted on the training split), or ``--params``.

By default, examples of groups (subjects, speakers, tracks) the model was trained or
validated on are left out, so the figure is always about unseen people or tracks: on the
shared data this is exactly the reference test split; on a new folder it is everything.
``--all`` keeps every example.

From Python: ``evaluate_model(model_path, data_dir, app=None, params=None)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils import apps
from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.model.train import evaluate_predictions
from tinyml_utils.tflite.guard import check_model, predict_isolated


@dataclass
class Evaluation:
    """What :func:`evaluate_model` measured, and on what."""

    app: str
    model: str
    data: str
    result: Any  # tinyml_utils.model.train.EvalResult
    n_examples: int
    n_groups: int
    excluded_examples: int
    group_name: str

    def __str__(self) -> str:
        lines = [
            f"model: {self.model}",
            f"data:  {self.data} ({self.n_examples} examples from {self.n_groups} "
            f"{self.group_name}s"
            + (
                f"; {self.excluded_examples} examples of {self.group_name}s seen in training "
                "or excluded by the split left out"
                if self.excluded_examples
                else ""
            )
            + ")",
            str(self.result),
        ]
        if len(self.result.per_class) == 2:
            lines.append(f"false-alarm rate: {self.result.false_alarm_rate(1):.2%}")
        return "\n".join(lines)


def load_params(model_path: str | os.PathLike, params: Any = None) -> dict[str, Any]:
    """The preprocessing recipe: a dict, a JSON path, or preprocessing.json beside the model."""
    if isinstance(params, dict):
        return params
    path = Path(params) if params is not None else Path(model_path).parent / "preprocessing.json"
    if not path.is_file():
        raise DataError(
            f"no preprocessing parameters at {path}: the model's preprocessing.json (written by "
            "`tinyml train-reference`) must sit next to the model, or pass --params FILE "
            "(Python: params=data.preprocessing)."
        )
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); restore preprocessing.json.") from exc
    for key in ("app", "normalization", "class_names"):
        if key not in loaded:
            raise DataError(
                f"{path} lacks {key!r}: it is not a preprocessing.json written by the workbook."
            )
    return loaded


def dataset_options(recipe: dict[str, Any]) -> dict[str, Any]:
    """The datasets.load options a recipe was made with (classes, wake word, kind)."""
    return {k: recipe[k] for k in apps.get_app(recipe["app"]).load_options if k in recipe}


def evaluate_model(
    model_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    app: str | None = None,
    params: Any = None,
    include_seen: bool = False,
    runtime: str = "tflite",
    dataset=None,
) -> Evaluation:
    """Accuracy, balanced accuracy, per-class recall and confusion of a .tflite model.

    Args:
        model_path: the .tflite file.
        data_dir: a folder (or the GTZAN CSV) in the dataset's original layout.
        app: the application; defaults to the one recorded in the parameters.
        params: preprocessing recipe (dict or JSON path); default preprocessing.json beside
            the model.
        include_seen: keep examples of groups used for training/validation (default: drop).
        runtime: "tflite" (ai_edge_litert) or "tflm" (the tflite-micro kernels).
        dataset: an already loaded raw Dataset of the folder (skips reading ``data_dir``).
    """

    # the checks diagnose makes (structure, bounds) before any runtime sees the file
    model_bytes = check_model(model_path).data
    recipe = load_params(model_path, params)
    app = app or recipe["app"]
    apps.check_app(app)
    if recipe["app"] != app:
        raise DataError(
            f"the parameters are for {recipe['app']!r}, not {app!r}: pass the model's own "
            "preprocessing.json or the matching --app."
        )
    data_path = Path(data_dir)
    if not data_path.exists():
        raise DatasetNotFoundError(
            f"data folder {data_path} does not exist. Fix: give the folder that holds the "
            f"{app} files in their original layout (see `tinyml data describe "
            f"{apps.get_app(app).dataset}`)."
        )
    options = dataset_options(recipe)
    ds = dataset if dataset is not None else apps.load_dataset(app, "local", data_path, **options)
    if list(ds.class_names) != list(recipe["class_names"]):
        raise DataError(
            f"the folder's classes {ds.class_names} differ from the model's "
            f"{recipe['class_names']}."
        )
    seen = set()
    split = recipe.get("split", {})
    if not include_seen:
        seen = {
            str(g)
            for key in ("train_groups", "val_groups", "excluded_groups")
            for g in split.get(key, [])
        }
    keep = np.array([str(g) not in seen for g in ds.groups], dtype=bool)
    if not keep.any():
        raise DataError(
            f"every {split.get('by', 'group')} in {data_path} was used to train or validate "
            "this model, so nothing unseen is left to evaluate. Fix: give a folder with other "
            f"{split.get('by', 'group')}s, or pass --all to evaluate on them anyway."
        )
    ds = ds.subset(keep)
    x, y, groups = apps.preprocess(app, ds, recipe)
    if len(x) == 0:
        raise DataError(
            f"no model inputs could be made from {data_path} (recordings shorter than one "
            "window?); check the folder's content."
        )
    try:
        # the runtime runs in a child process: a crash there is an error line, not exit 139
        scores = predict_isolated(model_bytes, x, runtime, where=str(model_path))
        names = list(recipe["class_names"])
        scores = scores.reshape(len(y), -1)
        if scores.shape[1] not in (1, len(names)):
            raise DataError(
                f"{model_path} has {scores.shape[1]} outputs but the recipe names "
                f"{len(names)} classes"
            )
        result = evaluate_predictions(y, scores.argmax(axis=-1), names, scores)
    except DataError as exc:
        raise DataError(
            f"{exc} (the preprocessing parameters do not match this model: pass the "
            "preprocessing.json written with it)"
        ) from exc
    return Evaluation(
        app=app,
        model=str(model_path),
        data=str(data_path),
        result=result,
        n_examples=int(len(y)),
        n_groups=int(len(np.unique(groups))),
        excluded_examples=int((~keep).sum()),
        group_name=str(split.get("by", "group")),
    )
