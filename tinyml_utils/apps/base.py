"""What an application is: the recipe from a dataset to model inputs, its default model,
its device input and its reference models.

Each app is one module of this package (``motionsense.py``, ``carsensor.py``, ...) that
defines ``APP = <App subclass>(...)``; :mod:`tinyml_utils.apps` lists the modules. Adding an
app means writing its module and adding its name to ``tinyml_utils.apps.MODULES``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.data import datasets

KB = 1024


@dataclass(frozen=True)
class Reference:
    """How one reference model is trained (``tinyml train-reference``) and what it must reach."""

    name: str
    app: str
    task: str
    source: str  # "local" (real data) or "synthetic"
    options: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)  # default_spec overrides
    epochs: int = 60
    batch_size: int = 64
    patience: int = 10
    learning_rate: float = 1e-3
    class_weight: str | None = None
    targets: dict[str, float] = field(default_factory=dict)
    reference_project: str = ""
    data_note: str = ""
    accuracy_claim: bool = True  # False: synthetic data, sizes only
    notes: str = ""  # design choices and, where a target is missed, what limits it


class App:
    """One application. Subclasses set the class attributes and override the recipe steps.

    Attributes:
        name: the app name (``prepare(name)``).
        dataset: the dataset module name in :mod:`tinyml_utils.data.datasets`.
        defaults: default options (``prepare(app, **options)`` overrides any of them).
        quick: what ``quick=True`` changes (small data: a notebook runs in about a minute).
        load_options: the options that go to ``datasets.load`` (the rest drive features/split).
        default_shape: (model input shape, number of classes) of the default recipe.
        sensor: the device input of the Arduino sketch: "imu", "accelerometer",
            "microphone" or "serial".
        references: the reference models of this app (``tinyml train-reference``).
    """

    name: str = ""
    dataset: str = ""
    defaults: dict[str, Any] = {}
    quick: dict[str, Any] = {}
    load_options: tuple[str, ...] = ()
    default_shape: tuple[tuple[int, ...], int] = ((1,), 2)
    sensor: str = "serial"
    references: tuple[Reference, ...] = ()

    # ---------------------------------------------------------------- options
    def options(self, quick: bool = False, **options: Any) -> dict[str, Any]:
        """The defaults, then the quick-mode changes, then ``options``, checked."""
        merged = copy.deepcopy(self.defaults)
        if quick:
            merged.update(copy.deepcopy(self.quick))
        unknown = set(options) - set(merged) - set(self.load_options) - {"test_groups"}
        if unknown:
            raise DataError(
                f"unknown option(s) {sorted(unknown)} for {self.name}; known: {sorted(merged)}."
            )
        merged.update(options)
        return self.check_options(merged)

    def check_options(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """Fill in derived options and reject impossible ones (override per app)."""
        return cfg

    def load_kwargs(self, cfg: dict[str, Any], source: str) -> dict[str, Any]:
        """Keyword arguments for ``datasets.load`` from the options."""
        return {k: cfg[k] for k in self.load_options if k in cfg and cfg[k] is not None}

    # ---------------------------------------------------------------- recipe steps
    def feature_params(self, ds, cfg: dict[str, Any]) -> dict[str, Any]:
        """The app's part of the JSON-able feature recipe (before normalisation)."""
        return {}

    def compute_features(self, ds, params: dict[str, Any], per_example: dict) -> tuple:
        """Features of every example BEFORE normalisation: (x, y, groups, meta)."""
        raise NotImplementedError

    def model_input(self, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Normalised features -> the model's input layout (default: unchanged)."""
        return x

    def split(self, ds, cfg: dict[str, Any], seed: int):
        """(train, val, test) Datasets with no group on two sides (default: groups drawn at
        random with ``seed``, or ``cfg["test_groups"]``; see ``datasets.split_by_group``)."""
        return datasets.split_by_group(
            ds, cfg["test_size"], cfg["val_size"], seed, cfg.get("test_groups")
        )

    def augment(self, train, cfg: dict[str, Any], seed: int, params: dict[str, Any]):
        """The training split, possibly with augmented copies (default: unchanged)."""
        return train

    def spec_options(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """The default CNN template point (CNNSpec fields other than shapes)."""
        raise NotImplementedError
