"""The on-disk audio feature cache and Speech Commands' cached-features path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinyml_utils.core.errors import DataError
from tinyml_utils.data import datasets
from tinyml_utils.data import features as F
from tinyml_utils.data.datasets import feature_cache, speech_commands

PRESET = F.AUDIO_PRESETS["keyword_spotting"]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))


def _wav(path: Path, freq: float, seconds: float = 1.0, rate: int = 16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), rate, subtype="PCM_16")


def _folder(root: Path) -> Path:
    _wav(root / "on" / "0a0b0c0d_nohash_0.wav", 440)
    _wav(root / "on" / "0a0b0c0d_nohash_1.wav", 660, seconds=0.5)
    _wav(root / "yes" / "11111111_nohash_0.wav", 880)
    _wav(root / "_background_noise_" / "hum.wav", 120, seconds=2.5)
    return root


def test_features_are_computed_once_then_loaded(tmp_path):
    root = _folder(tmp_path / "kws")
    calls = []

    def read(path, name):
        calls.append(name)
        return speech_commands.read_clip(path, name)

    names = [
        "on/0a0b0c0d_nohash_0.wav",
        "yes/11111111_nohash_0.wav",
        "_background_noise_/hum.wav#1",
    ]
    x, folder = feature_cache.cached_features(root, names, PRESET, read, progress=False)
    assert x.dtype == np.float16 and x.shape == (3, 31, 20) and len(calls) == 3
    audio = speech_commands.read_clips(root, names)
    np.testing.assert_allclose(x, F.audio_features(audio, PRESET), atol=0.02, rtol=2e-3)
    again, folder2 = feature_cache.cached_features(root, names, PRESET, read, progress=False)
    assert folder2 == folder and len(calls) == 3  # loaded: no clip decoded again
    np.testing.assert_array_equal(again, x)
    other = {**PRESET, "n_mels": 16}  # another front end: another cache entry
    y, folder3 = feature_cache.cached_features(root, names, other, read, progress=False)
    assert folder3 != folder and y.shape == (3, 31, 16) and len(calls) == 6


def test_a_failed_run_leaves_no_cache_entry(tmp_path):
    root = _folder(tmp_path / "kws")

    def broken(path, name):
        raise DataError("cannot read")

    with pytest.raises(DataError):
        feature_cache.cached_features(root, ["on/0a0b0c0d_nohash_0.wav"], PRESET, broken)
    assert not any(feature_cache.cache_folder().iterdir())


def test_speech_commands_with_features_holds_no_waveforms(tmp_path):
    root = _folder(tmp_path / "kws")
    waves = datasets.load("speech_commands", data_dir=root, progress=False)
    feats = datasets.load("speech_commands", data_dir=root, progress=False, features=PRESET)
    assert waves.x.shape == (5, 16000) and feats.x.shape == (5, 31, 20)
    assert feats.meta["x_kind"] == "features" and feats.meta["features"] == PRESET
    assert list(feats.meta["files"])[-2:] == [
        "_background_noise_/hum.wav#0",
        "_background_noise_/hum.wav#1",
    ]
    np.testing.assert_array_equal(feats.y, waves.y)
    np.testing.assert_array_equal(feats.groups, waves.groups)
    np.testing.assert_allclose(feats.x, F.audio_features(waves.x, PRESET), atol=0.02, rtol=2e-3)
    again = speech_commands.read_clips(root, feats.meta["files"])
    np.testing.assert_array_equal(again, waves.x)
