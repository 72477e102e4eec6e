"""tinyml_utils.data.features: windows, mel filterbank, log-mel / MFCC, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F


@pytest.mark.parametrize(
    "length, window, hop, expected",
    [
        (100, 128, 64, 0),
        (128, 128, 64, 1),
        (191, 128, 64, 1),
        (192, 128, 64, 2),
        (1000, 256, 64, 12),
    ],
)
def test_count_windows(length, window, hop, expected):
    assert F.count_windows(length, window, hop) == expected


def test_windows_never_cross_recordings_and_carry_groups():
    # each recording holds its own index as value, so a mixed window would show two values
    recs = [np.full((300, 2), i, np.float32) for i in range(3)]
    recs[1] = recs[1][:100]  # shorter than a window: contributes nothing
    w = F.window_recordings(recs, [0, 1, 2], ["s1", "s2", "s3"], window=128, hop=64)
    assert w.x.shape == (2 * F.count_windows(300, 128, 64), 128, 2)
    for x, rec, group, label in zip(w.x, w.recording, w.groups, w.y, strict=True):
        assert np.all(x == rec)  # one recording per window
        assert group == ["s1", "s2", "s3"][rec]
        assert label == [0, 1, 2][rec]
    assert set(w.recording) == {0, 2}


def test_windows_start_every_hop():
    rec = np.arange(10, dtype=np.float32)[:, None]
    w = F.window_recordings([rec], [0], [0], window=4, hop=3)
    np.testing.assert_array_equal(w.x[:, :, 0], [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])


def test_window_channel_selection_and_errors():
    rec = np.arange(40, dtype=np.float32).reshape(10, 4)
    w = F.window_recordings([rec], [0], [0], window=5, hop=5, channels=[3, 1])
    np.testing.assert_array_equal(w.x[0, 0], [3, 1])
    with pytest.raises(DataError, match="one label and one group"):
        F.window_recordings([rec, rec], [0], [0], 5, 5)
    with pytest.raises(DataError, match="must be >= 1"):
        F.count_windows(10, 0, 1)


def test_motion_channels_are_orientation_invariant():
    rng = np.random.default_rng(0)
    names = [f"{p}.{a}" for p in ("gravity", "rotationRate", "userAcceleration") for a in "xyz"]
    g = np.tile([0.0, 0.0, -1.0], (50, 1))
    acc, rot = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    rec = np.concatenate([g, rot, acc], axis=1)
    wanted = ["acc_vertical", "acc_horizontal", "rot_vertical", "acc_magnitude", "gravity.z"]
    out = F.motion_channels(rec, names, wanted)
    np.testing.assert_allclose(out[:, 0], -acc[:, 2], rtol=1e-5)  # along gravity (down = -z)
    np.testing.assert_allclose(out[:, 1], np.hypot(acc[:, 0], acc[:, 1]), rtol=1e-5)
    np.testing.assert_allclose(out[:, 3], np.linalg.norm(acc, axis=1), rtol=1e-5)
    np.testing.assert_allclose(out[:, 4], -1.0)
    # rotate the phone: raw axes change, derived channels do not
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    turned = np.concatenate([g @ q, rot @ q, acc @ q], axis=1)
    np.testing.assert_allclose(
        F.motion_channels(turned, names, wanted[:4]), out[:, :4], rtol=1e-4, atol=1e-5
    )
    with pytest.raises(DataError, match="unknown channel"):
        F.motion_channels(rec, names, ["speed"])


def test_mel_filterbank_shape_and_peaks():
    fb = F.mel_filterbank(16000, 1024, 16, 20, 8000)
    assert fb.shape == (16, 513)
    assert fb.max() <= 1.0 and np.all(fb >= 0)
    centres = F.mel_centre_frequencies(16000, 16, 20, 8000)
    bin_hz = np.arange(513) * 16000 / 1024
    # each filter peaks at the FFT bin nearest its centre frequency
    peaks = bin_hz[fb.argmax(axis=1)]
    assert np.all(np.abs(peaks - centres) <= 16000 / 1024)
    with pytest.raises(DataError):
        F.mel_filterbank(16000, 1024, 16, 0, 9000)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_pure_tone_peaks_in_the_right_mel_bin(freq):
    params = F.AUDIO_PRESETS["keyword_spotting"]
    t = np.arange(16000) / 16000
    tone = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    logmel = F.audio_features(tone[None], params)[0]
    assert logmel.shape == (31, 20)
    centres = F.mel_centre_frequencies(16000, 20, params["fmin"], params["fmax"])
    fb = F.mel_filterbank(16000, 1024, 20, params["fmin"], params["fmax"])
    expected = fb[:, int(round(freq * 1024 / 16000))].argmax()  # filter weighting the tone most
    assert np.all(logmel.argmax(axis=1) == expected)
    assert abs(centres[expected] - freq) < 0.35 * freq


def test_reference_feature_shapes():
    music = F.AUDIO_PRESETS["music_genre"]
    x = np.random.default_rng(0).normal(size=(2, 110250)).astype(np.float32) * 0.1
    assert F.audio_features(x, music).shape == (2, 216, 13)
    assert F.audio_feature_shape(110250, music) == (216, 13)
    assert F.audio_feature_shape(16000, F.AUDIO_PRESETS["keyword_spotting"]) == (31, 20)
    reference_grid = {**F.AUDIO_PRESETS["keyword_spotting"], "hop_length": 1000, "n_mels": 16}
    assert F.audio_features(np.zeros((1, 16000)), reference_grid).shape == (1, 16, 16)


def test_mfcc_is_dct_of_log_mel():
    from scipy.fft import dct

    x = np.random.default_rng(1).normal(size=(1, 4000)).astype(np.float32)
    kw = dict(sample_rate=8000, n_fft=256, hop_length=128, n_mels=20)
    logmel = F.log_mel_spectrogram(x, **kw)
    mf = F.mfcc(x, n_mfcc=10, **kw)
    np.testing.assert_allclose(mf, dct(logmel, norm="ortho", axis=-1)[..., :10], rtol=1e-5)
    # DC coefficient of an orthonormal DCT = mean * sqrt(n_mels)
    np.testing.assert_allclose(mf[..., 0], logmel.mean(-1) * np.sqrt(20), rtol=1e-4)
    with pytest.raises(DataError, match="n_mfcc"):
        F.mfcc(x, n_mfcc=30, **kw)


def test_frames_and_errors():
    frames = F.frame_signal(np.arange(10.0), 4, 3)
    np.testing.assert_array_equal(frames, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    with pytest.raises(DataError, match="shorter than one frame"):
        F.frame_signal(np.zeros(3), 4, 1)
    with pytest.raises(DataError, match="unknown audio feature kind"):
        F.audio_features(np.zeros((1, 16000)), {"kind": "cqt"})


def test_normalization_uses_training_statistics():
    rng = np.random.default_rng(0)
    train = rng.normal([1.0, -5.0], [2.0, 0.5], size=(2000, 2)).astype(np.float32)
    params = F.fit_normalization(train)
    assert set(params) == {"mean", "std"} and len(params["mean"]) == 2
    z = F.normalize(train, params)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    other = F.normalize(np.array([[1.0, -5.0]]), params)  # other data: same numbers applied
    np.testing.assert_allclose(
        other,
        [[(1 - params["mean"][0]) / params["std"][0], (-5 - params["mean"][1]) / params["std"][1]]],
        atol=1e-5,
    )
    with pytest.raises(DataError, match="features on its last axis"):
        F.normalize(np.zeros((3, 3)), params)
