"""The model and the real inputs the deployment checks use for each app.

* :func:`app_model`: ``models/<app>/model_int8.tflite`` (the applications engineer's reference
  model) when it exists; otherwise a small int8 model of the app's default CNN spec, built
  and converted here (untrained weights, calibrated on the app's inputs) so the deployment
  chain can be checked before the reference models exist.
* :func:`app_inputs`: model inputs prepared by ``tinyml_utils.apps.prepare`` from the real
  data (``../shared/data/<app>``) when present, else synthetic (carsensor has no real data).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_utils import apps
from tinyml_utils.core.paths import models_dir
from tinyml_utils.model.cnn import build_cnn
from tinyml_utils.tflite.convert import convert


@dataclass
class AppInputs:
    """Float model inputs of an app and where they come from."""

    x: np.ndarray
    source: str


@functools.cache
def app_inputs(app: str, n: int = 128, data_dir: str | None = None, seed: int = 0) -> AppInputs:
    """``n`` model inputs (test, then validation, then training examples) of ``app``.

    The data ``apps.prepare(source="auto")`` finds: ``data_dir``, ``$TINYML_DATA_DIR`` or
    ``../shared/data/<app>``, else the synthetic stand-in (``source`` says which).
    """
    data = apps.prepare(app, source="auto", data_dir=data_dir, quick=True, seed=seed)
    parts = [p for p in (data.x_test, data.x_val, data.x_train) if p is not None and len(p)]
    x = np.concatenate(parts)[:n].astype(np.float32)
    return AppInputs(x, data.source)


def reference_model_path(app: str) -> Path:
    return models_dir() / app / "model_int8.tflite"


@functools.cache
def app_model(app: str) -> tuple[bytes, str]:
    """(int8 .tflite bytes, description) for ``app``; see the module docstring."""
    path = reference_model_path(app)
    if path.is_file():
        return path.read_bytes(), f"reference model {path.relative_to(models_dir().parent)}"
    data = apps.prepare(app, source="synthetic", quick=True)
    spec = apps.default_spec(app, data)
    model = build_cnn(spec, seed=0)
    x = app_inputs(app).x
    return (
        convert(model, "int8", x, num_calibration=min(100, len(x))),
        f"stand-in: untrained {spec.name()} (models/{app}/model_int8.tflite not found)",
    )
