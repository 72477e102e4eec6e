"""Keyword spotting: the wake word "on" vs everything else (Speech Commands), split by speaker.

Model input (default): 31 frames x 20 log-mel bins (1 s at 16 kHz). Real clips are decoded
once into a float16 feature cache (:mod:`tinyml_utils.data.datasets.feature_cache`), so
even the full 105k-clip corpus never sits in memory as waveforms; training batches are
augmented afresh on the features (:class:`FeatureAugmenter`). Streaming detection on a
continuous recording: :mod:`tinyml_utils.apps.kws_streaming`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyml_utils.apps.base import KB, App, Reference
from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F
from tinyml_utils.data.datasets.speech_commands import CLIP_SAMPLES, SILENCE, read_clips

#: How keyword-spotting training batches are altered, on the fly (FeatureAugmenter).
AUGMENT: dict[str, Any] = {
    "max_shift_frames": 3,  # time shift, in hops (3 x 31.25 ms ~ 0.1 s)
    "gain": [0.6, 1.4],  # loudness factor (amplitude)
    "noise_probability": 0.8,  # share of examples that get background noise mixed in
    "noise_level": 1.0,  # up to this factor x a training-split background clip
    "time_masks": 2,  # SpecAugment: masks of up to time_mask_frames frames...
    "time_mask_frames": 4,
    "freq_masks": 2,  # ... and of up to freq_mask_bins mel bins, set to the mean
    "freq_mask_bins": 3,
    "wake_share": 0.3,  # share of wake-word examples in each epoch (oversampled)
}


class FeatureAugmenter:
    """Alters batches of normalised log-mel features, differently at every call.

    Everything happens on the features, not the waveforms (which are never held): a time
    shift by whole frames (the vacated frames hold no signal), a gain (an added constant
    in the log domain), background noise mixed in the mel-POWER domain (power of clip +
    power of noise: exact on average, the cross term of the two signals averages out), then
    SpecAugment's time and frequency masks. Noise clips are the TRAINING split's
    ``_silence_`` / background clips, so nothing of the validation or test data leaks in.
    """

    def __init__(
        self,
        noise_logmel: np.ndarray,
        normalization: dict[str, list[float]],
        options: dict[str, Any] | None = None,
        seed: int = 0,
        eps: float = 1e-6,
    ):
        self.options = {**AUGMENT, **(options or {})}
        self.noise = np.asarray(noise_logmel, np.float32)
        self.mean = np.asarray(normalization["mean"], np.float32)
        self.std = np.asarray(normalization["std"], np.float32)
        self.rng = np.random.default_rng(seed)
        self.eps = eps
        #: share of wake-word examples per epoch (model.train.AugmentedBatches oversamples)
        self.positive_share = float(self.options["wake_share"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        o, rng = self.options, self.rng
        squeeze = x.ndim == 4
        lm = (x[..., 0] if squeeze else x) * self.std + self.mean  # back to log-mel
        n, frames, bins = lm.shape
        power = np.exp(lm.astype(np.float64)) - self.eps
        shifted = np.zeros_like(power)
        shifts = rng.integers(-o["max_shift_frames"], o["max_shift_frames"] + 1, n)
        for i, s in enumerate(shifts):
            if s >= 0:
                shifted[i, s:] = power[i, : frames - s]
            else:
                shifted[i, :s] = power[i, -s:]
        shifted *= rng.uniform(*o["gain"], (n, 1, 1)) ** 2
        if len(self.noise) and o["noise_probability"] > 0:
            noise = np.exp(self.noise[rng.integers(0, len(self.noise), n)].astype(np.float64))
            rolls = rng.integers(0, frames, n)
            noise = np.stack([np.roll(a, r, axis=0) for a, r in zip(noise, rolls, strict=True)])
            level = rng.uniform(0, o["noise_level"], (n, 1, 1))
            level *= rng.random((n, 1, 1)) < o["noise_probability"]
            shifted += (noise - self.eps) * level**2
        out = (np.log(np.maximum(shifted, 0) + self.eps) - self.mean) / self.std
        for i in range(n):
            for _ in range(o["time_masks"]):
                w = rng.integers(0, o["time_mask_frames"] + 1)
                t0 = rng.integers(0, frames - w + 1)
                out[i, t0 : t0 + w] = 0.0
            for _ in range(o["freq_masks"]):
                w = rng.integers(0, o["freq_mask_bins"] + 1)
                b0 = rng.integers(0, bins - w + 1)
                out[i, :, b0 : b0 + w] = 0.0
        out = out.astype(np.float32)
        return out[..., None] if squeeze else out


def example_clips(ds, words: list[str]) -> dict[str, np.ndarray]:
    """The first clip (waveform) of each word in ``words`` found in ``ds``: from ``ds.x`` when
    it holds waveforms, else read again from the clip's file (``ds.x`` holds cached features)."""
    all_words = np.asarray(ds.meta["words"])
    out = {}
    for word in words:
        hits = np.flatnonzero(all_words == word)
        if not len(hits):
            continue
        if ds.meta.get("x_kind") == "features":
            out[word] = read_clips(ds.meta["root"], [ds.meta["files"][hits[0]]])[0]
        else:
            out[word] = np.asarray(ds.x[hits[0]], np.float32)
    return out


REFERENCES = (
    Reference(
        name="keyword_spotting",
        app="keyword_spotting",
        task='wake word "on" vs everything else (1 s clips)',
        source="local",
        options={"wake_word": "on", "augment": True},
        epochs=80,
        batch_size=64,
        patience=None,
        learning_rate=3e-3,
        schedule="cosine",
        class_weight=None,
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
        "augment": True,  # alter every training batch afresh (FeatureAugmenter)
        "cache_features": True,  # real data: decode once into the on-disk feature cache
        "test_size": 0.2,
        "val_size": 0.1,
    }
    quick = {"max_per_class": 150}
    load_options = ("wake_word", "max_per_class", "max_per_word", "variant", "cache_dir")
    default_shape = ((31, 20, 1), 2)
    sensor = "microphone"
    references = REFERENCES

    def load_kwargs(self, cfg: dict[str, Any], source: str) -> dict[str, Any]:
        kwargs = super().load_kwargs(cfg, source)
        if source != "synthetic":
            kwargs["progress"] = False
            if cfg.get("cache_features", True):
                kwargs["features"] = dict(cfg["features"])
        return kwargs

    def feature_params(self, ds, cfg: dict[str, Any]) -> dict[str, Any]:
        cached = ds.meta.get("x_kind") == "features"
        return dict(
            wake_word=cfg["wake_word"],
            features=dict(cfg["features"]),
            clip_samples=CLIP_SAMPLES if cached else int(np.shape(ds.x)[1]),
            layout="frames_x_bins_x_1",
        )

    def augmenter(self, x_train, y_train, meta, params, cfg, seed):
        if not cfg.get("augment"):
            return None
        words = np.asarray(meta.get("words", np.array([""] * len(y_train))))
        norm = params["normalization"]
        noise = x_train[words == SILENCE][..., 0] * np.asarray(norm["std"], np.float32)
        noise = noise + np.asarray(norm["mean"], np.float32)  # back to log-mel
        params["augment"] = {"seed": seed, "noise": f"training split {SILENCE}", **AUGMENT}
        return FeatureAugmenter(noise, norm, seed=seed)

    def compute_features(self, ds, params: dict[str, Any], per_example: dict) -> tuple:
        if ds.meta.get("x_kind") == "features":  # the feature cache
            if dict(ds.meta["features"]) != dict(params["features"]):
                raise DataError(
                    "the cached features were computed with another front end "
                    f"({ds.meta['features']}) than the model needs ({params['features']}). "
                    "Fix: load the dataset with features=<the model's preprocessing features>."
                )
            return np.asarray(ds.x, np.float32)[..., None], ds.y, ds.groups, per_example
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
