"""Music genre: 10 GTZAN genres, from per-track features or MFCCs of audio clips.

Model input (default): the 57 track features of features_30_sec.csv; with ``kind="audio"``,
216 frames x 13 MFCCs of 5 s clips.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyml_utils.apps.base import KB, App, Reference
from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F

REFERENCES = (
    Reference(
        name="music_genre",
        app="music_genre",
        task="10 genres from the 57 per-track features (features_30_sec.csv)",
        source="local",
        options={"kind": "features"},
        epochs=200,
        batch_size=32,
        patience=25,
        targets={"arena_bytes": 64 * KB},
        reference_project=(
            "42 KB / 88.45 % (216x13 MFCC CNN on audio clips; not comparable: the audio "
            "is not available here)"
        ),
        data_note=(
            "GTZAN features_30_sec.csv (Kaggle), tracks 00000-00084 of each genre "
            "(850 rows); tracks 00085-00099 are a blind holdout. Derived features, not "
            "audio."
        ),
        notes=(
            "An MLP (the CNN template with no conv block: 57 -> 64 -> 10). 32 to 128 "
            "hidden units and 1-2 layers all scored 68-74 % on held-out tracks (2 split seeds): 57 "
            "per-track averages lose the time structure the reference's 216 x 13 MFCC "
            "CNN sees, and only 595 tracks train it."
        ),
    ),
    Reference(
        name="music_genre_mfcc",
        app="music_genre",
        task="10 genres, 216x13 MFCC of 5 s clips (the reference architecture's input)",
        source="synthetic",
        options={"kind": "audio"},
        epochs=30,
        batch_size=16,
        targets={"arena_bytes": 64 * KB},
        accuracy_claim=False,
        data_note=(
            "SYNTHETIC audio (the real GTZAN audio is not available here): this entry "
            "proves the audio -> MFCC -> CNN -> int8 -> TFLM chain and measures its "
            "size and arena. No accuracy claim."
        ),
        notes=(
            "1-D CNN over time (13 MFCCs as channels): 3 conv blocks of 16, 16, 32 "
            "filters, each followed by two max-pools of 2, then dense 32 -> 10. The "
            "front end (features.mfcc, no librosa) gives 216 x 13 on the 10 real sample "
            "WAVs too (notebook 04)."
        ),
    ),
)


class MusicGenre(App):
    name = "music_genre"
    dataset = "gtzan"
    defaults = {
        "kind": "features",  # "features" (features_30_sec.csv) or "audio" (MFCC of clips)
        "clip_seconds": 5.0,  # audio: 30 s tracks are cut into clips of this length
        "features": F.AUDIO_PRESETS["music_genre"],
        "test_size": 0.2,
        "val_size": 0.1,
    }
    load_options = ("kind",)
    default_shape = ((57, 1), 10)
    sensor = "serial"
    references = REFERENCES

    def check_options(self, cfg: dict[str, Any]) -> dict[str, Any]:
        if cfg["kind"] not in ("features", "audio"):
            raise DataError(f"music_genre kind must be 'features' or 'audio', got {cfg['kind']!r}.")
        return cfg

    def feature_params(self, ds, cfg: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"kind": cfg["kind"]}
        if cfg["kind"] == "features":
            params["feature_names"] = list(ds.meta["feature_names"])
        else:
            params.update(clip_seconds=float(cfg["clip_seconds"]), features=dict(cfg["features"]))
        return params

    def compute_features(self, ds, params: dict[str, Any], per_example: dict) -> tuple:
        if params["kind"] == "features":
            names = list(ds.meta.get("feature_names", []))
            if names and names != params["feature_names"]:
                raise DataError(
                    "the feature columns differ from the ones the model was trained on; use "
                    "the same features_30_sec.csv layout (57 feature columns in the original "
                    "order)."
                )
            return np.asarray(ds.x, dtype=np.float32), ds.y, ds.groups, per_example
        rate = params["features"]["sample_rate"]
        if ds.sample_rate and float(ds.sample_rate) != float(rate):
            raise DataError(f"audio at {ds.sample_rate} Hz; the features need {rate} Hz.")
        clip = int(round(params["clip_seconds"] * rate))
        audio = np.asarray(ds.x, dtype=np.float32)
        n_clips = audio.shape[1] // clip
        if n_clips < 1:
            raise DataError(
                f"tracks of {audio.shape[1]} samples are shorter than one clip ({clip})."
            )
        clips = audio[:, : n_clips * clip].reshape(len(audio) * n_clips, clip)
        feats = F.audio_features(clips, params["features"])
        meta = {k: np.repeat(v, n_clips) for k, v in per_example.items()}
        return feats, np.repeat(ds.y, n_clips), np.repeat(ds.groups, n_clips), meta

    def model_input(self, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        if params["kind"] == "features":
            return x[..., None]  # (N, 57, 1): the CNN template's 1-D input, no conv blocks
        return x

    def spec_options(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        if len(input_shape) == 2 and input_shape[-1] == 1:  # 57 track features: an MLP
            return dict(conv_filters=(), pools=1, dense_units=(64,), dropout_rate=0.3)
        # 216 x 13 MFCC clips, 1-D convolution over time
        return dict(conv_filters=(16, 16, 32), pools=2, kernel_size=3, dense_units=(32,))


APP = MusicGenre()
