"""CarSensor: in a vehicle (car, bus, train) or not (still, walking), from a phone's
accelerometer, split by user.

The recipe, chosen by leave-one-user-out validation on the TMD recordings (notebook 02,
``scripts/carsensor_louo.py``, ``results/carsensor/louo.md``):

1. each recording's accelerometer resampled to ``rate`` Hz by sample-and-hold (the loader);
2. windows of ``window_seconds`` every ``hop_seconds``, never across two recordings;
3. each window cut into ``blocks`` blocks; per block 4 numbers that do not depend on how the
   phone is held nor on the phone's own sampling rate (:func:`block_features`): the log
   spread of the acceleration's size, of its component along gravity and across it, and the
   log range of its size. Model input: (blocks, 4), standardised with the training split.

A vehicle sits in the middle: a phone lying still barely moves (log spread about -4), one in
a pocket while walking swings hard (about +1), one in a car, bus or train shakes in between.
Blocks let the model see a stop at a traffic light inside a minute of driving.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tinyml_utils.apps.base import KB, App, Reference
from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F

#: Per-block features (names in the order of the model's input channels).
FEATURES = ("log_std_size", "log_std_vertical", "log_mean_horizontal", "log_range_size")
MODE_ORDER = ("Still", "Walking", "Car", "Bus", "Train")
#: Floor added before the logarithms, in m/s^2: below any phone's noise, so it only keeps
#: a perfectly constant block (sample-and-hold over a gap) finite.
EPS = 1e-3

REFERENCES = (
    Reference(
        name="carsensor",
        app="carsensor",
        task="in vehicle (car, bus, train) vs not (still, walking), phone accelerometer",
        source="local",
        # test users: those with both classes, except "andrea" (the only bus and most train
        # recordings) and AndreaCarpineti (most of the other still/walking phones) who train
        options={"test_groups": ["Elena", "Federica", "andreacasalena"], "val_size": 0.0},
        epochs=40,
        batch_size=64,
        patience=None,
        class_weight="balanced",
        targets={"balanced_accuracy": 0.90, "weights_bytes": 2.5 * KB, "arena_bytes": 8 * KB},
        reference_project="2.57 KB / 95.00 % (dynamic-range file; Kaggle windows, no user split)",
        data_note=(
            "TMD raw recordings (Carpineti et al., PerCom Workshops 2018; MIT License): 68 "
            "recordings of 7 users; users Damiano and FrancescoP are a blind holdout."
        ),
        notes=(
            "Accelerometer resampled to 5 Hz by sample-and-hold, windows of 60 s every 15 s "
            "(never across recordings), 12 blocks of 5 s x 4 rotation-invariant log spreads "
            "(apps.carsensor.block_features); 1 conv block of 8 filters (kernel 3, max-pool 2), "
            "dense 8; 40 epochs, balanced class weights, no validation split (7 users). "
            "This row is ONE split of 3 test users, trained on 4. The cross-user figure is "
            "leave-one-user-out over all 7 users (each trained on the other 6, int8 file), "
            "3 seeds: pooled balanced accuracy 89.06-91.42 % (mean 90.53 %; target 90 % met "
            "on the mean, not by every seed; stretch 95 % missed); per user 49-100 %: "
            "Federica's still recording is mostly taken for a vehicle (49-72 %; its "
            "occasional handling bumps look like a car at a stop), every other user 80-100 %. "
            "Still is the weakest mode (recall 71 %). Figures: results/carsensor/louo.md, "
            "written by scripts/carsensor_louo.py."
        ),
    ),
)


def block_features(x: np.ndarray, blocks: int) -> np.ndarray:
    """(N, T, 3) accelerometer windows -> (N, blocks, 4) float32 :data:`FEATURES`.

    Per block of T // blocks samples: the log standard deviation of |a| (how much the
    phone shakes), of the component along the block's gravity (its mean direction) and the
    log mean size of the rest (across gravity), and the log range (max - min) of |a|.
    All are rotation invariant, and spreads of sample-and-hold values do not depend on the
    phone's own sampling rate.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise DataError(f"accelerometer windows must be (N, T, 3), got {x.shape}.")
    n, t, _ = x.shape
    size = t // blocks
    if size < 2:
        raise DataError(
            f"windows of {t} samples cannot be cut into {blocks} blocks of >= 2 samples. "
            f"Fix: longer windows or fewer blocks."
        )
    b = x[:, : blocks * size].reshape(n, blocks, size, 3)
    mag = np.linalg.norm(b, axis=3)
    gravity = b.mean(axis=2)
    gravity /= np.linalg.norm(gravity, axis=2, keepdims=True) + 1e-9
    motion = b - b.mean(axis=2, keepdims=True)
    vertical = (motion * gravity[:, :, None, :]).sum(axis=3)
    horizontal = np.linalg.norm(motion - vertical[..., None] * gravity[:, :, None, :], axis=3)
    out = np.stack(
        [
            np.log(mag.std(axis=2) + EPS),
            np.log(vertical.std(axis=2) + EPS),
            np.log(horizontal.mean(axis=2) + EPS),
            np.log(mag.max(axis=2) - mag.min(axis=2) + EPS),
        ],
        axis=2,
    )
    return out.astype(np.float32)


def native_rates(ds) -> np.ndarray:
    """Each TMD recording's own accelerometer rate (Hz, from the median gap between rows)."""
    return np.asarray(ds.meta["native_rate"], dtype=float)


def recording_table(ds) -> pd.DataFrame:
    """Per user and mode: recordings, minutes (after resampling) and the median native rate."""
    frame = pd.DataFrame(
        {
            "user": ds.groups,
            "mode": ds.meta["mode"],
            "minutes": [len(x) / ds.sample_rate / 60 for x in ds.x],
            "native_rate_hz": native_rates(ds),
        }
    )
    table = frame.groupby(["user", "mode"]).agg(
        recordings=("minutes", "size"),
        minutes=("minutes", "sum"),
        native_rate_hz=("native_rate_hz", "median"),
    )
    return table.round(1).reset_index()


def mode_spread(x: np.ndarray, meta: dict, groups: np.ndarray) -> pd.DataFrame:
    """Per transport mode, the first feature (log spread of |a| per block) of all windows:
    median, 10th and 90th percentile, windows and users."""
    modes = np.asarray(meta["mode"])
    rows = {}
    for mode in MODE_ORDER:
        m = modes == mode
        if m.any():
            v = x[m][:, :, 0].ravel()
            rows[mode] = {
                "windows": int(m.sum()),
                "users": len(np.unique(np.asarray(groups)[m])),
                "p10": float(np.percentile(v, 10)),
                "median": float(np.median(v)),
                "p90": float(np.percentile(v, 90)),
            }
    return pd.DataFrame(rows).T.rename_axis("mode")


class CarSensor(App):
    name = "carsensor"
    dataset = "carsensor"
    defaults = {
        "rate": 5.0,  # Hz, sample-and-hold (TMD recordings; windowed files keep theirs)
        "window_seconds": 60.0,  # one decision per minute of data
        "hop_seconds": 15.0,  # a new decision every 15 s
        "blocks": 12,  # 5 s blocks at the defaults
        "test_size": 0.2,
        "val_size": 0.1,
    }
    quick = {"hop_seconds": 30.0}
    load_options = ("rate", "block_windows")
    default_shape = ((12, 4), 2)
    sensor = "accelerometer"
    references = REFERENCES

    def feature_params(self, ds, cfg: dict[str, Any]) -> dict[str, Any]:
        params = dict(blocks=int(cfg["blocks"]), features=list(FEATURES))
        if isinstance(ds.x, np.ndarray):  # already windows (Kaggle CSV, .npz)
            params.update(layout="windows", window=int(np.shape(ds.x)[1]), hop=None)
        else:
            rate = float(ds.sample_rate or cfg["rate"])
            params.update(
                layout="recordings",
                rate=rate,
                window=int(round(float(cfg["window_seconds"]) * rate)),
                hop=int(round(float(cfg["hop_seconds"]) * rate)),
            )
        return params

    def compute_features(self, ds, params: dict[str, Any], per_example: dict) -> tuple:
        if isinstance(ds.x, np.ndarray):
            x = np.asarray(ds.x, dtype=np.float32)
            if x.ndim != 3 or x.shape[1] != params["window"]:
                raise DataError(
                    f"carsensor windows have shape {x.shape[1:]}; the model was trained on "
                    f"windows of {params['window']} samples x 3 axes."
                )
            return block_features(x, params["blocks"]), ds.y, ds.groups, per_example
        w = F.window_recordings(list(ds.x), ds.y, ds.groups, params["window"], params["hop"])
        if len(w.x) == 0:
            raise DataError(
                f"no recording is {params['window']} samples long; nothing to window. "
                f"Fix: shorter window_seconds."
            )
        meta = {k: np.asarray(v)[w.recording] for k, v in per_example.items()}
        return block_features(w.x, params["blocks"]), w.y, w.groups, meta

    def spec_options(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        pools = 1 if input_shape[0] >= 2 else 0  # one block per window: nothing to pool
        return dict(conv_filters=(8,), pools=pools, pool_size=2, kernel_size=3, dense_units=(8,))


APP = CarSensor()
