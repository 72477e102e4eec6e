"""MotionSense: activity recognition from a phone in the trouser pocket, split by subject.

Model input (default): 256 samples (5.12 s at 50 Hz) x 4 orientation-free channels.
"""

from __future__ import annotations

from typing import Any

from tinyml_utils.apps.base import KB, App, Reference
from tinyml_utils.data import features as F

#: Channels of the default model: vertical/horizontal user acceleration and rotation rate
#: (see features.motion_channels). Invariant to how the phone sits in the pocket, so they
#: carry over to people the model never saw.
MOTION_CHANNELS_3 = ["acc_vertical", "acc_horizontal", "rot_vertical", "rot_horizontal"]
#: 6 classes also need to tell sitting from standing: the thigh's angle, i.e. gravity's
#: direction in the phone's frame, is the cue, so the gravity axes are added.
MOTION_CHANNELS_6 = MOTION_CHANNELS_3 + ["gravity.x", "gravity.y", "gravity.z"]


REFERENCES = (
    Reference(
        name="motionsense",
        app="motionsense",
        task="3 activities: stairs (up+down), walk_jog, sit_stand",
        source="local",
        options={"classes": 3},
        epochs=60,
        targets={"accuracy": 0.95, "weights_bytes": 6 * KB, "arena_bytes": 16 * KB},
        reference_project="6.02 KB / 92.31 % (dynamic-range file, TFLM refuses it)",
        data_note="MotionSense DeviceMotion, subjects 1-21 (22-24 are a blind holdout).",
        notes=(
            "Windows of 256 samples (5.12 s) every 64 samples, never across recordings; "
            "4 channels that do not depend on how the phone sits in the pocket: user "
            "acceleration and rotation rate, each split into the component along gravity "
            "and the size of the rest (features.motion_channels). With the 6 raw "
            "acceleration/rotation axes and 128-sample windows the same CNN scored about "
            "88-90 % on held-out subjects."
        ),
    ),
    Reference(
        name="motionsense_6class",
        app="motionsense",
        task="6 activities: dws, ups, wlk, jog, sit, std",
        source="local",
        options={"classes": 6},
        epochs=60,
        targets={"weights_bytes": 6 * KB, "arena_bytes": 16 * KB},
        data_note="MotionSense DeviceMotion, subjects 1-21 (22-24 are a blind holdout).",
        notes=(
            "Same model and windows as the 3-class entry plus the 3 gravity axes (the "
            "thigh's angle separates sitting from standing). Remaining errors: downstairs "
            "vs upstairs and sitting vs standing; no accuracy target was set."
        ),
    ),
)


class MotionSense(App):
    name = "motionsense"
    dataset = "motionsense"
    defaults = {
        "classes": 3,
        "window": 256,  # samples: 5.12 s at 50 Hz, two to five gait cycles
        "hop": 64,  # samples: a new decision every 1.28 s
        "channels": None,  # None: MOTION_CHANNELS_3 for 3 classes, MOTION_CHANNELS_6 for 6
        "max_seconds": None,  # crop each recording (quick runs)
        "test_size": 0.2,
        "val_size": 0.1,
    }
    quick = {"hop": 128, "max_seconds": 40}
    load_options = ("classes",)
    default_shape = ((256, 4), 3)
    sensor = "imu"
    references = REFERENCES

    def check_options(self, cfg: dict[str, Any]) -> dict[str, Any]:
        if cfg.get("channels") is None:
            cfg["channels"] = list(
                MOTION_CHANNELS_6 if int(cfg["classes"]) == 6 else MOTION_CHANNELS_3
            )
        return cfg

    def feature_params(self, ds, cfg: dict[str, Any]) -> dict[str, Any]:
        return dict(
            classes=int(cfg["classes"]),
            sample_rate=float(ds.sample_rate or 50.0),
            window=int(cfg["window"]),
            hop=int(cfg["hop"]),
            channels=list(cfg["channels"]),
            source_channels=list(ds.meta["channels"]),
            max_seconds=cfg.get("max_seconds"),
        )

    def compute_features(self, ds, params: dict[str, Any], per_example: dict) -> tuple:
        channels = params["channels"]
        max_samples = (
            int(params["max_seconds"] * params["sample_rate"])
            if params.get("max_seconds")
            else None
        )
        recs = [F.motion_channels(r[:max_samples], ds.meta["channels"], channels) for r in ds.x]
        w = F.window_recordings(recs, ds.y, ds.groups, params["window"], params["hop"])
        meta = {k: v[w.recording] for k, v in per_example.items()}
        return w.x, w.y, w.groups, meta

    def spec_options(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        # one max-pool of 4 = two of 2 (same model), but half the ops in the .tflite file
        return dict(
            conv_filters=(8, 16, 16), pools=1, pool_size=4, kernel_size=5, dense_units=(16,)
        )


APP = MotionSense()
