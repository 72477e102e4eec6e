"""Keyword spotting: the wake word "on" vs everything else (Speech Commands), split by speaker.

Model input (default): 31 frames x 20 log-mel bins (1 s at 16 kHz).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyml_utils.apps.base import KB, App, Reference
from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F

#: How training clips are altered (see features.augment_audio).
AUGMENT = {
    "max_shift": 1600,
    "gain": [0.6, 1.4],
    "noise_level": 0.5,
    "noise": "_silence_",
    "speed": [1.0, 1.0],  # e.g. [0.9, 1.1] for speed perturbation (no gain measured here)
}


def augment_training_clips(train, copies: int, seed: int = 0):
    """The training split plus ``copies`` altered versions of each clip (same labels/groups).

    Noise comes from the training split's own ``_silence_`` clips, so nothing of the
    validation or test speakers leaks in.
    """
    words = np.asarray(train.meta.get("words", np.array([""] * len(train))))
    noise = train.x[words == AUGMENT["noise"]]
    extra = F.augment_audio(
        train.x,
        copies,
        seed=seed,
        max_shift=AUGMENT["max_shift"],
        gain=tuple(AUGMENT["gain"]),
        noise=noise,
        noise_level=AUGMENT["noise_level"],
        speed=tuple(AUGMENT["speed"]),
    )
    n = len(train)
    out = train.subset(np.concatenate([np.arange(n), np.tile(np.arange(n), copies)]))
    out.x = np.concatenate([np.asarray(train.x, np.float32), extra])
    return out


REFERENCES = (
    Reference(
        name="keyword_spotting",
        app="keyword_spotting",
        task='wake word "on" vs everything else (1 s clips)',
        source="local",
        options={"wake_word": "on", "augment": 4},
        epochs=60,
        batch_size=32,
        patience=12,
        class_weight="balanced",
        targets={
            "balanced_accuracy": 0.95,
            "weights_bytes": 6 * KB,
            "arena_bytes": 12 * KB,
        },
        reference_project="6.01 KB / 98.21 % on the full v0.02 data (dynamic-range file)",
        data_note=(
            "Speech Commands v0.02 TEST-set files only (3,410 clips, 202 speakers; a subset "
            "of the official test set, not the 105k-clip training corpus), so figures are "
            "not comparable with models trained on the full corpus."
        ),
        notes=(
            "31 frames x 20 log-mel bins (hop 31.25 ms; 2-3 points better than the "
            "reference's 16 x 16 in our runs), 4 augmented copies per training clip "
            "(time shift, gain, training-split noise), balanced class weights. What limits "
            "it: the shared data has only 343 'on' clips, so about 240 train the model and "
            "73 test it (one clip = 1.4 points of recall); the same configuration trained "
            "with 4 weight-init seeds on this split scored 89.9-94.6 % balanced accuracy "
            "(mean about 92 %), and no variant we tried (16x16 or 31x20 or 49x16 inputs, "
            "MFCC, 2-3 conv blocks, 8-16 filters, speed perturbation, per-clip mean "
            "removal, threshold chosen on validation) reached 95 % reliably within "
            "6 KB of weights. Most false alarms are 'off'. The full v0.02 training corpus "
            "(about 3,000 'on' clips) is the fix: `tinyml data download speech_commands`."
        ),
    ),
)


class KeywordSpotting(App):
    name = "keyword_spotting"
    dataset = "speech_commands"
    defaults = {
        "wake_word": "on",
        "features": F.AUDIO_PRESETS["keyword_spotting"],
        "max_per_class": None,
        "augment": 0,  # extra shifted/scaled/noisy copies of each training clip
        "test_size": 0.2,
        "val_size": 0.1,
    }
    quick = {"max_per_class": 150}
    load_options = ("wake_word", "max_per_class", "max_per_word")
    default_shape = ((31, 20, 1), 2)
    sensor = "microphone"
    references = REFERENCES

    def load_kwargs(self, cfg: dict[str, Any], source: str) -> dict[str, Any]:
        kwargs = super().load_kwargs(cfg, source)
        if source != "synthetic":
            kwargs["progress"] = False
        return kwargs

    def feature_params(self, ds, cfg: dict[str, Any]) -> dict[str, Any]:
        return dict(
            wake_word=cfg["wake_word"],
            features=dict(cfg["features"]),
            clip_samples=int(np.shape(ds.x)[1]),
            layout="frames_x_bins_x_1",
        )

    def augment(self, train, cfg: dict[str, Any], seed: int, params: dict[str, Any]):
        if not cfg.get("augment"):
            return train
        params["augment"] = {"copies": int(cfg["augment"]), "seed": seed, **AUGMENT}
        return augment_training_clips(train, int(cfg["augment"]), seed)

    def compute_features(self, ds, params: dict[str, Any], per_example: dict) -> tuple:
        x = np.asarray(ds.x, dtype=np.float32)
        if x.shape[1] != params["clip_samples"]:
            raise DataError(
                f"clips have {x.shape[1]} samples; the model expects {params['clip_samples']} "
                f"(1 s at {params['features']['sample_rate']} Hz)."
            )
        feats = F.audio_features(x, params["features"])[..., None]  # (N, frames, bins, 1)
        return feats, ds.y, ds.groups, per_example

    def spec_options(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        return dict(conv_filters=(8, 16, 16), pools=1, kernel_size=3, dense_units=(16,))


APP = KeywordSpotting()
