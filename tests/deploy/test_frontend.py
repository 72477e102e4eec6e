"""deploy.frontend: the C audio front end (firmware/audio) computes the training features.

The keyword-spotting sketch runs firmware/audio/tinyml_frontend.c on the board; here the same
file, compiled for the host, turns real one-second WAVs (../shared/data/keyword_spotting) into
model inputs, compared with tinyml_utils.data.features + the recorded normalisation + the model's
input quantization. Outside CI without the real data the clips are synthetic.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyml_utils.core.errors import DataError
from tinyml_utils.core.paths import models_dir, shared_data_dir
from tinyml_utils.data import features as F
from tinyml_utils.deploy import examples, frontend


def _kws_recipe_and_model() -> tuple[dict, bytes]:
    model, _ = examples.app_model("keyword_spotting")
    path = models_dir() / "keyword_spotting" / "preprocessing.json"
    if path.is_file():
        return json.loads(path.read_text()), model
    from tinyml_utils import apps

    return apps.prepare("keyword_spotting", source="synthetic", quick=True).preprocessing, model


def _kws_clips(n_per_folder: int = 12) -> tuple[np.ndarray, str]:
    """int16 clips: real WAVs (wake word, other words, silence) or, outside CI without the
    data, synthetic ones."""
    from conftest import IN_CI, app_data_dir

    root = shared_data_dir()
    if IN_CI or (root is not None and (root / "keyword_spotting").is_dir()):
        import soundfile as sf

        folder = app_data_dir("keyword_spotting")
        words = sorted(p for p in folder.iterdir() if p.is_dir())
        clips = []
        for w in words:
            for wav in sorted(w.glob("*.wav"))[:n_per_folder]:
                audio, rate = sf.read(str(wav), dtype="int16")
                assert rate == 16000
                clips.append(np.pad(audio[:16000], (0, max(0, 16000 - len(audio)))))
        return np.stack(clips), f"{len(clips)} real WAVs from {folder}"
    from tinyml_utils.data import datasets

    ds = datasets.load("speech_commands", source="synthetic")
    x = np.asarray(ds.x[:60], np.float32)
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16), "60 synthetic clips"


def test_kws_c_features_equal_the_training_features(tmp_path, require_tool):
    require_tool("gcc")
    pre, model = _kws_recipe_and_model()
    spec = frontend.frontend_spec(pre, model)
    pcm, source = _kws_clips()
    assert len(pcm) >= 50, source
    c_feats, c_input = frontend.host_features(tmp_path, pre, model, pcm)
    py_feats, py_input = frontend.python_features(pre, model, pcm)
    assert c_feats.shape == py_feats.shape == (len(pcm), spec.n_features)
    diff = np.abs(c_feats - py_feats)
    assert diff.max() < 1e-3, f"{source}: max |C - Python| = {diff.max():.2e}"
    steps = np.abs(c_input.astype(int) - py_input.astype(int))
    assert steps.max() <= 1, f"{source}: a quantized input differs by {steps.max()} steps"
    assert (steps == 0).mean() >= 0.99, f"{source}: only {(steps == 0).mean():.4f} identical"
    # not a trivial match: the inputs vary (speech, silence), and rounding stays exact
    assert len(np.unique(c_input)) > 100


def test_mfcc_front_end_with_centred_frames(tmp_path, require_tool):
    """The MFCC path (music genre preset: centred frames, n_fft 2048, DCT) on synthetic
    audio, with a small int8 model of the matching input shape."""
    require_tool("gcc")
    from tinyml_utils.core.tf import keras
    from tinyml_utils.tflite.convert import convert

    params = dict(F.AUDIO_PRESETS["music_genre"])
    clip = 22050
    rng = np.random.default_rng(0)
    t = np.arange(clip) / 22050.0
    x = np.stack(
        [0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.normal(size=clip) for f in (220, 880, 3000)]
    ).astype(np.float32)
    pcm = np.round(x * 32767).astype(np.int16)
    feats = F.audio_features(pcm.astype(np.float32) / 32768, params)
    pre = {
        "features": params,
        "clip_samples": clip,
        **{"normalization": F.fit_normalization(feats)},
    }
    inp = keras.Input(feats.shape[1:])
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(inp)))
    model_bytes = convert(model, "int8", F.normalize(feats, pre["normalization"]))
    spec = frontend.frontend_spec(pre, model_bytes)
    assert (spec.n_frames, spec.bins) == feats.shape[1:] == (44, 13)
    c_feats, c_input = frontend.host_features(tmp_path, pre, model_bytes, pcm)
    py_feats, py_input = frontend.python_features(pre, model_bytes, pcm)
    assert np.abs(c_feats - py_feats).max() < 1e-3
    steps = np.abs(c_input.astype(int) - py_input.astype(int))
    assert steps.max() <= 1 and (steps == 0).mean() >= 0.99


def test_frontend_rejects_recipes_it_cannot_run(tmp_path):
    _, model = _kws_recipe_and_model()
    with pytest.raises(DataError, match="no audio features"):
        frontend.frontend_spec({"window": 100}, model)
    bad = {"features": {**F.AUDIO_PRESETS["keyword_spotting"], "n_fft": 1000}}
    with pytest.raises(DataError, match="power of two"):
        frontend.frontend_spec(bad, model)
    other = {"features": F.AUDIO_PRESETS["music_genre"], "clip_samples": 22050}
    with pytest.raises(DataError, match="do not belong together"):
        frontend.frontend_spec(other, model)
    with pytest.raises(DataError, match="preprocessing.json"):
        frontend.load_preprocessing(tmp_path / "model_int8.tflite")
