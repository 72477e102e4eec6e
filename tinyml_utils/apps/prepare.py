"""The recipe every app shares: load, split by group, features, normalisation.

``prepare`` does, for every app, the same four steps (see :mod:`tinyml_utils.apps`); the
app's module supplies the app-specific parts (:class:`tinyml_utils.apps.base.App`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyml_utils.apps.registry import get_app as _app
from tinyml_utils.core.errors import DataError, DatasetNotFoundError, TinyMLError
from tinyml_utils.core.paths import portable_source
from tinyml_utils.data import datasets
from tinyml_utils.data import features as F
from tinyml_utils.model.cnn import CNNSpec


@dataclass
class PreparedData:
    """Model-ready arrays of one app, split by group, with the recipe that made them.

    Attributes:
        app: the application name.
        x_train, y_train, x_val, y_val, x_test, y_test: float32 model inputs, int64 labels.
        class_names: name of each label.
        split: a sentence naming the split, e.g. "by subject: train 15, val 2 (...), test 4 (...)".
        preprocessing: JSON-able dict of every feature parameter (including the
            normalisation fitted on the training split and the groups of each split).
        source: where the data came from ("synthetic", "local:<path>", "download:<url>").
        fallback_reason: why ``source="auto"`` fell back to synthetic data ("" otherwise).
        groups_train, groups_val, groups_test: the group of each example.
        test_meta: per-example details of the test split (e.g. the spoken word), if any.
    """

    app: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    split: str
    preprocessing: dict[str, Any]
    source: str
    fallback_reason: str = ""  # why "auto" fell back to synthetic data ("" otherwise)
    groups_train: np.ndarray | None = field(default=None, repr=False)
    groups_val: np.ndarray | None = field(default=None, repr=False)
    groups_test: np.ndarray | None = field(default=None, repr=False)
    test_meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def real(self) -> bool:
        """True when the examples are real recordings, clips or tracks (not synthetic)."""
        return self.source != "synthetic"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self):
        """A table of examples per class and split (pandas DataFrame)."""
        import pandas as pd

        k = self.num_classes
        table = pd.DataFrame(
            {
                part: np.bincount(getattr(self, f"y_{part}"), minlength=k)
                for part in ("train", "val", "test")
            },
            index=pd.Index(self.class_names, name="class"),
        )
        table.loc["total"] = table.sum()
        return table

    def banner(self) -> str:
        """One line on where the data came from; loud when it is the synthetic stand-in."""
        if self.real:
            return f"REAL data: {portable_source(self.source)}"
        why = (
            f" (source='auto' found no real data: {self.fallback_reason})"
            if self.fallback_reason
            else ""
        )
        return (
            f"SYNTHETIC stand-in data{why}. Accuracy on it says nothing about the real task; "
            "sizes, arenas and the mechanics are real."
        )

    def __str__(self) -> str:
        return (
            f"{self.banner()}\n"
            f"{self.app}: input {self.input_shape}, classes {self.class_names}\n"
            f"train {len(self.y_train)}, val {len(self.y_val)}, test {len(self.y_test)} "
            f"examples; split {self.split}"
        )


def app_options(app: str, quick: bool = False, **options: Any) -> dict[str, Any]:
    """The defaults of ``app``, then the quick-mode changes, then ``options``."""
    return _app(app).options(quick=quick, **options)


#: Set to 0 to keep ``source="auto"`` from downloading (it then falls back to synthetic data).
DOWNLOAD_ENV = "TINYML_DOWNLOAD"


def load_dataset(
    app: str,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    **options: Any,
):
    """The app's Dataset (raw: recordings, clips or feature rows), via data.datasets.

    ``source="auto"`` (the default) takes the real data wherever it can be had: ``data_dir``,
    then ``$TINYML_DATA_DIR/<folder>`` (or ``../shared/data`` beside the checkout), then a
    complete earlier download, then a download; only when none works does it fall back to
    the synthetic stand-in, and says why in ``ds.meta["fallback_reason"]``. A ``data_dir``
    that holds no dataset is an error, not a fallback.
    """
    a = _app(app)
    cfg = a.options(**options)
    load_kwargs = a.load_kwargs(cfg, source)
    if source != "auto":
        if source == "synthetic":
            load_kwargs["seed"] = seed
        return datasets.load(a.dataset, source=source, data_dir=data_dir, **load_kwargs)
    reasons = []
    try:
        return datasets.load(a.dataset, source="auto", data_dir=data_dir, **load_kwargs)
    except DatasetNotFoundError as exc:
        if data_dir is not None:
            raise
        reasons.append(f"no local copy ({str(exc).splitlines()[0]})")
    if os.environ.get(DOWNLOAD_ENV, "1") != "0":
        try:
            return datasets.load(a.dataset, source="download", **load_kwargs)
        except (TinyMLError, OSError) as exc:
            reasons.append(f"download failed ({str(exc).splitlines()[0]})")
    else:
        reasons.append(f"downloads are off (${DOWNLOAD_ENV}=0)")
    ds = datasets.load(a.dataset, source="synthetic", seed=seed, **load_kwargs)
    ds.meta["fallback_reason"] = "; ".join(reasons)
    return ds


def feature_params(app: str, ds, cfg: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able feature recipe of ``app`` for dataset ``ds`` (before normalisation)."""
    a = _app(app)
    params: dict[str, Any] = {"app": app, "dataset": a.dataset, "class_names": ds.class_names}
    params.update(a.feature_params(ds, cfg))
    return params


def compute_features(
    app: str, ds, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Features of every example of ``ds`` BEFORE normalisation: (x, y, groups, meta).

    ``meta`` holds per-example details that survive the step (e.g. the spoken word).
    """
    a = _app(app)
    if len(ds) == 0:
        raise DataError(f"{app}: the dataset (or split) is empty; nothing to compute.")
    per_example = {k: np.asarray(ds.meta[k]) for k in ds.meta.get("per_example", ())}
    return a.compute_features(ds, params, per_example)


def _normalize(x: np.ndarray, norm: dict[str, Any]) -> np.ndarray:
    """Normalise per feature; spectrograms (…, bins, 1) per mel bin."""
    if x.ndim == 4 and x.shape[-1] == 1:
        return F.normalize(x[..., 0], norm)[..., None]
    return F.normalize(x, norm)


def _fit_normalization(x: np.ndarray) -> dict[str, list[float]]:
    return F.fit_normalization(x[..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x)


def preprocess(app: str, ds, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply a recorded recipe (``data.preprocessing`` / preprocessing.json) to a Dataset.

    Returns model inputs, labels and groups, computed exactly as for training: the same
    windows or spectrogram frames, and the normalisation fitted on the training split.
    """
    x, y, groups, _ = compute_features(app, ds, params)
    x = _normalize(x, params["normalization"])
    return _app(app).model_input(x, params).astype(np.float32), y, groups


def _group_list(groups: np.ndarray) -> list:
    return [g.item() if hasattr(g, "item") else g for g in np.unique(groups)]


def prepare(
    app: str,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    quick: bool = False,
    seed: int = 0,
    **options: Any,
) -> PreparedData:
    """Load, split by group, compute features and normalise: model-ready data for ``app``.

    Args:
        app: one of :data:`tinyml_utils.apps.APPS`.
        source: "auto" (the default: real data if it can be had, else synthetic, see
            :func:`load_dataset`), "local", "download" or "synthetic".
        data_dir: the real data folder for "local"/"auto" (e.g. ../shared/data/motionsense).
        quick: small data (the app's ``quick`` options) so a notebook runs in well under a minute.
        seed: seeds the synthetic data and the choice of validation/test groups.
        options: any key of the app's ``defaults`` (e.g. ``classes=6``, ``window=128``,
            ``kind="audio"``), or ``test_groups=[...]`` to fix the test groups.

    Returns:
        :class:`PreparedData`.
    """
    a = _app(app)
    cfg = a.options(quick=quick, **options)
    ds = load_dataset(
        app, source, data_dir, seed, **{k: v for k, v in cfg.items() if k in a.load_options}
    )
    train, val, test = datasets.split_by_group(
        ds, cfg["test_size"], cfg["val_size"], seed, cfg.get("test_groups")
    )
    params = feature_params(app, ds, cfg)
    train = a.augment(train, cfg, seed, params)
    parts = {}
    for name, part in (("train", train), ("val", val), ("test", test)):
        parts[name] = (
            compute_features(app, part, params)
            if len(part)
            else (None, np.zeros(0, np.int64), np.zeros(0), {})
        )
    x_train = parts["train"][0]
    norm = _fit_normalization(x_train)
    params["normalization"] = norm
    split_text = train.meta.get("split", "")
    params["split"] = {
        "by": ds.meta.get("group_name", "group"),
        "description": split_text,
        "seed": seed,
        "test_size": cfg["test_size"],
        "val_size": cfg["val_size"],
        "train_groups": _group_list(parts["train"][2]),
        "val_groups": _group_list(parts["val"][2]),
        "test_groups": _group_list(parts["test"][2]),
    }
    params["source"] = ds.source
    params["quick"] = bool(quick)

    def finish(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y, g, _ = parts[name]
        if x is None:
            shape = (0, *a.model_input(_normalize(x_train[:1], norm), params).shape[1:])
            return np.zeros(shape, np.float32), y, g
        x = a.model_input(_normalize(x, norm), params).astype(np.float32)
        return x, np.asarray(y, np.int64), g

    (xtr, ytr, gtr), (xva, yva, gva), (xte, yte, gte) = (
        finish("train"),
        finish("val"),
        finish("test"),
    )
    return PreparedData(
        app=app,
        x_train=xtr,
        y_train=ytr,
        x_val=xva,
        y_val=yva,
        x_test=xte,
        y_test=yte,
        class_names=list(ds.class_names),
        split=split_text,
        preprocessing=params,
        source=ds.source,
        fallback_reason=str(ds.meta.get("fallback_reason", "")),
        groups_train=gtr,
        groups_val=gva,
        groups_test=gte,
        test_meta=parts["test"][3],
    )


def default_spec(app: str, data: PreparedData | None = None, **overrides: Any) -> CNNSpec:
    """A small CNN template point for ``app`` that fits a microcontroller.

    The input shape and number of classes come from ``data`` (so options such as
    ``classes=6`` or another window follow); ``overrides`` replace any CNNSpec field.
    """
    a = _app(app)
    if data is not None:
        input_shape, num_classes = data.input_shape, data.num_classes
    else:  # the default preprocessing's shapes
        input_shape, num_classes = a.default_shape
    base = a.spec_options(tuple(input_shape))
    base.update(overrides)
    return CNNSpec(input_shape=input_shape, num_classes=num_classes, **base)
