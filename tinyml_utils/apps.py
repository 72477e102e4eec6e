"""The four applications of the workbook: from a dataset to model-ready arrays.

    from tinyml_utils import apps
    data = apps.prepare("motionsense", source="synthetic", quick=True)
    data.x_train.shape, data.split, data.preprocessing
    spec = apps.default_spec("motionsense", data)

``prepare`` does, for every app, the same four steps:

1. load the dataset (:func:`tinyml_utils.datasets.load`: synthetic, local or download);
2. split it BY GROUP (subject, speaker, track, recording) with
   :func:`tinyml_utils.datasets.split_by_group`, so that no person or track is both in
   training and in test (windows of one recording are strongly alike: a split by window
   would measure memory, not generalisation);
3. compute the features of each split (windows, log-mel, MFCC: :mod:`tinyml_utils.features`);
4. fit the normalisation on the TRAINING split only and apply it to all three.

Everything needed to repeat steps 3-4 on new data is in ``data.preprocessing`` (a JSON-able
dict, saved as ``preprocessing.json`` next to a reference model): :func:`preprocess` applies
it to any Dataset, which is what ``tinyml evaluate`` and a firmware port do.

=================  ==================  ======================================  ==========
app                dataset             model input (default)                    split by
=================  ==================  ======================================  ==========
motionsense        motionsense         256 samples (5.12 s at 50 Hz) x 4        subject
carsensor          carsensor           100 samples x 3 axes                     recording
keyword_spotting   speech_commands     31 frames x 20 log-mel bins (1 s)        speaker
music_genre        gtzan (features)    57 track features (features_30_sec)      track
music_genre        gtzan (audio)       216 frames x 13 MFCCs (5 s clips)        track
=================  ==================  ======================================  ==========
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyml_utils import features as F
from tinyml_utils.errors import DataError
from tinyml_utils.models import CNNSpec

APPS: tuple[str, ...] = ("motionsense", "carsensor", "keyword_spotting", "music_genre")

#: app -> dataset name in tinyml_utils.datasets
DATASET_OF = {
    "motionsense": "motionsense",
    "carsensor": "carsensor",
    "keyword_spotting": "speech_commands",
    "music_genre": "gtzan",
}

#: MotionSense channels of the default model: vertical/horizontal user acceleration and
#: rotation rate (see features.motion_channels). Invariant to how the phone sits in the
#: pocket, so they carry over to people the model never saw.
MOTION_CHANNELS_3 = ["acc_vertical", "acc_horizontal", "rot_vertical", "rot_horizontal"]
#: 6 classes also need to tell sitting from standing: the thigh's angle, i.e. gravity's
#: direction in the phone's frame, is the cue, so the gravity axes are added.
MOTION_CHANNELS_6 = MOTION_CHANNELS_3 + ["gravity.x", "gravity.y", "gravity.z"]

#: Default options per app (``prepare(app, **options)`` overrides any of them).
DEFAULTS: dict[str, dict[str, Any]] = {
    "motionsense": {
        "classes": 3,
        "window": 256,  # samples: 5.12 s at 50 Hz, two to five gait cycles
        "hop": 64,  # samples: a new decision every 1.28 s
        "channels": None,  # None: MOTION_CHANNELS_3 for 3 classes, MOTION_CHANNELS_6 for 6
        "max_seconds": None,  # crop each recording (quick runs)
        "test_size": 0.2,
        "val_size": 0.1,
    },
    "carsensor": {
        "remove_mean": True,  # subtract each window's mean: gravity/orientation out, motion in
        "test_size": 0.2,
        "val_size": 0.1,
    },
    "keyword_spotting": {
        "wake_word": "on",
        "features": F.AUDIO_PRESETS["keyword_spotting"],
        "max_per_class": None,
        "augment": 0,  # extra shifted/scaled/noisy copies of each training clip
        "test_size": 0.2,
        "val_size": 0.1,
    },
    "music_genre": {
        "kind": "features",  # "features" (features_30_sec.csv) or "audio" (MFCC of clips)
        "clip_seconds": 5.0,  # audio: 30 s tracks are cut into clips of this length
        "features": F.AUDIO_PRESETS["music_genre"],
        "test_size": 0.2,
        "val_size": 0.1,
    },
}

#: What ``quick=True`` changes (small data, so a notebook runs in well under a minute).
QUICK: dict[str, dict[str, Any]] = {
    "motionsense": {"hop": 128, "max_seconds": 40},
    "carsensor": {},
    "keyword_spotting": {"max_per_class": 150},
    "music_genre": {},
}

#: Options that go to datasets.load (the rest drive features and the split).
_LOAD_OPTIONS = {
    "motionsense": ("classes",),
    "carsensor": ("block_windows",),
    "keyword_spotting": ("wake_word", "max_per_class", "max_per_word"),
    "music_genre": ("kind",),
}


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
    groups_train: np.ndarray | None = field(default=None, repr=False)
    groups_val: np.ndarray | None = field(default=None, repr=False)
    groups_test: np.ndarray | None = field(default=None, repr=False)
    test_meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

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

    def __str__(self) -> str:
        return (
            f"{self.app} ({self.source}): input {self.input_shape}, classes {self.class_names}\n"
            f"train {len(self.y_train)}, val {len(self.y_val)}, test {len(self.y_test)} "
            f"examples; split {self.split}"
        )


# --------------------------------------------------------------------------- options


def check_app(app: str) -> str:
    if app not in APPS:
        raise DataError(f"unknown app {app!r}; choose one of {APPS}.")
    return app


def app_options(app: str, quick: bool = False, **options: Any) -> dict[str, Any]:
    """The defaults of ``app``, then the quick-mode changes, then ``options``."""
    check_app(app)
    merged = copy.deepcopy(DEFAULTS[app])
    if quick:
        merged.update(copy.deepcopy(QUICK[app]))
    unknown = set(options) - set(merged) - set(_LOAD_OPTIONS[app]) - {"test_groups"}
    if unknown:
        raise DataError(f"unknown option(s) {sorted(unknown)} for {app}; known: {sorted(merged)}.")
    merged.update(options)
    if app == "motionsense" and merged.get("channels") is None:
        merged["channels"] = list(
            MOTION_CHANNELS_6 if int(merged["classes"]) == 6 else MOTION_CHANNELS_3
        )
    if app == "music_genre" and merged["kind"] not in ("features", "audio"):
        raise DataError(f"music_genre kind must be 'features' or 'audio', got {merged['kind']!r}.")
    return merged


def load_dataset(
    app: str,
    source: str = "synthetic",
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    **options: Any,
):
    """The app's Dataset (raw: recordings, clips or feature rows), via tinyml_utils.datasets."""
    from tinyml_utils import datasets

    cfg = app_options(app, **options)
    load_kwargs = {k: cfg[k] for k in _LOAD_OPTIONS[app] if k in cfg and cfg[k] is not None}
    if source == "synthetic":
        load_kwargs["seed"] = seed
    if app == "keyword_spotting" and source != "synthetic":
        load_kwargs["progress"] = False
    return datasets.load(DATASET_OF[app], source=source, data_dir=data_dir, **load_kwargs)


# --------------------------------------------------------------------------- features


def feature_params(app: str, ds, cfg: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able feature recipe of ``app`` for dataset ``ds`` (before normalisation)."""
    params: dict[str, Any] = {"app": app, "dataset": DATASET_OF[app], "class_names": ds.class_names}
    if app == "motionsense":
        params.update(
            classes=int(cfg["classes"]),
            sample_rate=float(ds.sample_rate or 50.0),
            window=int(cfg["window"]),
            hop=int(cfg["hop"]),
            channels=list(cfg["channels"]),
            source_channels=list(ds.meta["channels"]),
            max_seconds=cfg.get("max_seconds"),
        )
    elif app == "carsensor":
        params.update(
            window=int(np.shape(ds.x)[1]),
            axes=int(np.shape(ds.x)[2]),
            remove_mean=bool(cfg["remove_mean"]),
        )
    elif app == "keyword_spotting":
        params.update(
            wake_word=cfg["wake_word"],
            features=dict(cfg["features"]),
            clip_samples=int(np.shape(ds.x)[1]),
            layout="frames_x_bins_x_1",
        )
    elif app == "music_genre":
        params.update(kind=cfg["kind"])
        if cfg["kind"] == "features":
            params["feature_names"] = list(ds.meta["feature_names"])
        else:
            params.update(clip_seconds=float(cfg["clip_seconds"]), features=dict(cfg["features"]))
    return params


def compute_features(
    app: str, ds, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Features of every example of ``ds`` BEFORE normalisation: (x, y, groups, meta).

    ``meta`` holds per-example details that survive the step (e.g. the spoken word).
    """
    check_app(app)
    if len(ds) == 0:
        raise DataError(f"{app}: the dataset (or split) is empty; nothing to compute.")
    per_example = {k: np.asarray(ds.meta[k]) for k in ds.meta.get("per_example", ())}
    if app == "motionsense":
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
    if app == "carsensor":
        x = np.asarray(ds.x, dtype=np.float32)
        if x.shape[1:] != (params["window"], params["axes"]):
            raise DataError(
                f"carsensor windows have shape {x.shape[1:]}, the model was trained on "
                f"({params['window']}, {params['axes']})."
            )
        if params.get("remove_mean"):
            x = F.remove_window_mean(x)
        return x, ds.y, ds.groups, per_example
    if app == "keyword_spotting":
        x = np.asarray(ds.x, dtype=np.float32)
        if x.shape[1] != params["clip_samples"]:
            raise DataError(
                f"clips have {x.shape[1]} samples; the model expects {params['clip_samples']} "
                f"(1 s at {params['features']['sample_rate']} Hz)."
            )
        feats = F.audio_features(x, params["features"])[..., None]  # (N, frames, bins, 1)
        return feats, ds.y, ds.groups, per_example
    # music_genre
    if params["kind"] == "features":
        names = list(ds.meta.get("feature_names", []))
        if names and names != params["feature_names"]:
            raise DataError(
                "the feature columns differ from the ones the model was trained on; use the "
                "same features_30_sec.csv layout (57 feature columns in the original order)."
            )
        x = np.asarray(ds.x, dtype=np.float32)
        return x, ds.y, ds.groups, per_example
    rate = params["features"]["sample_rate"]
    if ds.sample_rate and float(ds.sample_rate) != float(rate):
        raise DataError(f"audio at {ds.sample_rate} Hz; the features need {rate} Hz.")
    clip = int(round(params["clip_seconds"] * rate))
    audio = np.asarray(ds.x, dtype=np.float32)
    n_clips = audio.shape[1] // clip
    if n_clips < 1:
        raise DataError(f"tracks of {audio.shape[1]} samples are shorter than one clip ({clip}).")
    clips = audio[:, : n_clips * clip].reshape(len(audio) * n_clips, clip)
    feats = F.audio_features(clips, params["features"])
    meta = {k: np.repeat(v, n_clips) for k, v in per_example.items()}
    return feats, np.repeat(ds.y, n_clips), np.repeat(ds.groups, n_clips), meta


def _normalize(app: str, x: np.ndarray, norm: dict[str, Any]) -> np.ndarray:
    """Normalise per feature; spectrograms (…, bins, 1) per mel bin."""
    if x.ndim == 4 and x.shape[-1] == 1:
        return F.normalize(x[..., 0], norm)[..., None]
    return F.normalize(x, norm)


def _fit_normalization(x: np.ndarray) -> dict[str, list[float]]:
    return F.fit_normalization(x[..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x)


def _model_input(app: str, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    if app == "music_genre" and params["kind"] == "features":
        return x[..., None]  # (N, 57, 1): the CNN template's 1-D input, no conv blocks
    return x


def preprocess(app: str, ds, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply a recorded recipe (``data.preprocessing`` / preprocessing.json) to a Dataset.

    Returns model inputs, labels and groups, computed exactly as for training: the same
    windows or spectrogram frames, and the normalisation fitted on the training split.
    """
    x, y, groups, _ = compute_features(app, ds, params)
    x = _normalize(app, x, params["normalization"])
    return _model_input(app, x, params).astype(np.float32), y, groups


#: How keyword-spotting training clips are altered (see features.augment_audio).
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


def _group_list(groups: np.ndarray) -> list:
    return [g.item() if hasattr(g, "item") else g for g in np.unique(groups)]


def prepare(
    app: str,
    source: str = "synthetic",
    data_dir: str | os.PathLike | None = None,
    quick: bool = False,
    seed: int = 0,
    **options: Any,
) -> PreparedData:
    """Load, split by group, compute features and normalise: model-ready data for ``app``.

    Args:
        app: one of :data:`APPS`.
        source: "synthetic" (offline default), "local", "download" or "auto".
        data_dir: the real data folder for "local"/"auto" (e.g. ../shared/data/motionsense).
        quick: small data (see :data:`QUICK`) so a notebook runs in well under a minute.
        seed: seeds the synthetic data and the choice of validation/test groups.
        options: any key of :data:`DEFAULTS` for the app (e.g. ``classes=6``, ``window=128``,
            ``kind="audio"``), or ``test_groups=[...]`` to fix the test groups.

    Returns:
        :class:`PreparedData`.
    """
    from tinyml_utils import datasets

    cfg = app_options(app, quick=quick, **options)
    ds = load_dataset(
        app, source, data_dir, seed, **{k: v for k, v in cfg.items() if k in _LOAD_OPTIONS[app]}
    )
    train, val, test = datasets.split_by_group(
        ds, cfg["test_size"], cfg["val_size"], seed, cfg.get("test_groups")
    )
    params = feature_params(app, ds, cfg)
    if app == "keyword_spotting" and cfg.get("augment"):
        train = augment_training_clips(train, int(cfg["augment"]), seed)
        params["augment"] = {"copies": int(cfg["augment"]), "seed": seed, **AUGMENT}
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
            shape = (0, *_model_input(app, _normalize(app, x_train[:1], norm), params).shape[1:])
            return np.zeros(shape, np.float32), y, g
        x = _model_input(app, _normalize(app, x, norm), params).astype(np.float32)
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
        groups_train=gtr,
        groups_val=gva,
        groups_test=gte,
        test_meta=parts["test"][3],
    )


# --------------------------------------------------------------------------- model specs


def default_spec(app: str, data: PreparedData | None = None, **overrides: Any) -> CNNSpec:
    """A small CNN template point for ``app`` that fits a microcontroller.

    The input shape and number of classes come from ``data`` (so options such as
    ``classes=6`` or another window follow); ``overrides`` replace any CNNSpec field.
    """
    check_app(app)
    if data is not None:
        input_shape, num_classes = data.input_shape, data.num_classes
    else:  # the default preprocessing's shapes
        input_shape, num_classes = {
            "motionsense": ((256, 4), 3),
            "carsensor": ((100, 3), 2),
            "keyword_spotting": ((31, 20, 1), 2),
            "music_genre": ((57, 1), 10),
        }[app]
    if app == "motionsense":
        # one max-pool of 4 = two of 2 (same model), but half the ops in the .tflite file
        base = dict(
            conv_filters=(8, 16, 16), pools=1, pool_size=4, kernel_size=5, dense_units=(16,)
        )
    elif app == "carsensor":
        base = dict(conv_filters=(4, 8), pools=1, pool_size=4, kernel_size=5, dense_units=(8,))
    elif app == "keyword_spotting":
        base = dict(conv_filters=(8, 16, 16), pools=1, kernel_size=3, dense_units=(16,))
    elif len(input_shape) == 2 and input_shape[-1] == 1:  # music: 57 track features
        base = dict(conv_filters=(), pools=1, dense_units=(64,), dropout_rate=0.3)
    else:  # music: 216 x 13 MFCC clips, 1-D convolution over time
        base = dict(conv_filters=(16, 16, 32), pools=2, kernel_size=3, dense_units=(32,))
    base.update(overrides)
    return CNNSpec(input_shape=input_shape, num_classes=num_classes, **base)
