"""CarSensor: in a vehicle or not, from accelerometer windows.

Model input (default): 100 samples x 3 axes, each window minus its own mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyml_utils.apps.base import KB, App, Reference
from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F

REFERENCES = (
    Reference(
        name="carsensor",
        app="carsensor",
        task="in vehicle vs not, 100x3 accelerometer windows",
        source="synthetic",
        epochs=40,
        batch_size=32,
        targets={"weights_bytes": 2.5 * KB, "arena_bytes": 8 * KB},
        accuracy_claim=False,
        reference_project="2.57 KB / 95.00 % (dynamic-range file)",
        data_note=(
            "SYNTHETIC data (the Kaggle file is not available here): sizes and arena are "
            "real measurements of the model; accuracy means nothing and is not claimed. "
            "Run the notebook or this command with --data-dir on the Kaggle file."
        ),
        notes=(
            "Each window minus its own mean per axis (gravity, i.e. the phone's "
            "orientation, out), standardised per axis; 2 conv blocks of 4 and 8 filters "
            "(kernel 5, max-pool 4), dense 8. Every layer has < 1,024 weights, so the "
            "converter's dynamic-range file stays float32 (and TFLM runs it)."
        ),
    ),
)


class CarSensor(App):
    name = "carsensor"
    dataset = "carsensor"
    defaults = {
        "remove_mean": True,  # subtract each window's mean: gravity/orientation out, motion in
        "test_size": 0.2,
        "val_size": 0.1,
    }
    load_options = ("block_windows",)
    default_shape = ((100, 3), 2)
    sensor = "accelerometer"
    references = REFERENCES

    def feature_params(self, ds, cfg: dict[str, Any]) -> dict[str, Any]:
        return dict(
            window=int(np.shape(ds.x)[1]),
            axes=int(np.shape(ds.x)[2]),
            remove_mean=bool(cfg["remove_mean"]),
        )

    def compute_features(self, ds, params: dict[str, Any], per_example: dict) -> tuple:
        x = np.asarray(ds.x, dtype=np.float32)
        if x.shape[1:] != (params["window"], params["axes"]):
            raise DataError(
                f"carsensor windows have shape {x.shape[1:]}, the model was trained on "
                f"({params['window']}, {params['axes']})."
            )
        if params.get("remove_mean"):
            x = F.remove_window_mean(x)
        return x, ds.y, ds.groups, per_example

    def spec_options(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        return dict(conv_filters=(4, 8), pools=1, pool_size=4, kernel_size=5, dense_units=(8,))


APP = CarSensor()
