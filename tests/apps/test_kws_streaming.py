"""Streaming keyword spotting (apps.kws_streaming) and the KWS feature augmenter."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils import apps
from tinyml_utils.apps import kws_streaming as S
from tinyml_utils.apps.keyword_spotting import FeatureAugmenter
from tinyml_utils.core.errors import DataError
from tinyml_utils.data import features as F
from tinyml_utils.model.train import AugmentedBatches

PRESET = F.AUDIO_PRESETS["keyword_spotting"]
RATE = 16000


def _tone(freq: float, n: int = RATE) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / RATE)).astype(np.float32)


def test_recording_places_every_clip_where_it_says():
    wake = np.stack([_tone(1000)] * 3)
    other = np.stack([_tone(300)] * 4)
    noise = np.random.default_rng(0).normal(0, 0.01, (2, RATE)).astype(np.float32)
    rec = S.build_recording(wake, other, noise, seed=1, repeats=2)
    assert len(rec.wake) == 6 and len(rec.other) == 8
    spans = np.concatenate([rec.wake, rec.other])
    spans = spans[np.argsort(spans[:, 0])]
    assert np.all(spans[1:, 0] >= spans[:-1, 1] + RATE)  # at least the minimum gap between
    assert np.all(spans[:, 1] - spans[:, 0] == RATE)
    start = rec.wake[0, 0]
    spectrum = np.abs(np.fft.rfft(rec.audio[start : start + RATE]))
    assert abs(int(np.argmax(spectrum)) - 1000) <= 2  # the wake clip (1 kHz) is really there
    with pytest.raises(DataError, match="noise"):
        S.build_recording(wake, other, noise[:0])


def test_a_detector_that_sees_the_wake_tone_hits_every_word_and_nothing_else():
    wake = np.stack([_tone(1000)] * 5)
    other = np.stack([_tone(300)] * 5)
    noise = np.zeros((1, RATE), np.float32) + 1e-3
    rec = S.build_recording(wake, other, noise, seed=0)
    bin_1k = int(np.argmin(np.abs(F.mel_centre_frequencies(RATE, 20, 20.0, 8000.0) - 1000)))

    def predict(x):  # "on" when the 1 kHz mel bin is loud in the last frames
        return (x[:, -8:, bin_1k, 0].mean(axis=1) > np.log(1.0)).astype(np.float32)

    scores, times = S.stream_scores(rec.audio, predict, PRESET, 31, progress=False)
    assert np.allclose(np.diff(times), 31.25)  # the model runs every hop
    det = S.det_curve(scores, times, rec, thresholds=np.array([0.2, 0.5, 0.9]))
    assert list(det["detected"]) == [5, 5, 5]
    # a low threshold keeps the 1 s average above it longer than the suppression time: every
    # word fires twice, and the second activation counts as false
    assert list(det["false_activations"]) == [5, 0, 0]
    none = S.det_curve(np.zeros_like(scores), times, rec, thresholds=np.array([0.5]))
    assert none["miss_rate"].iloc[0] == 1.0 and none["false_per_hour"].iloc[0] == 0


def test_smoothing_suppression_and_matching():
    times = np.arange(0, 10_000, 100.0)
    scores = np.zeros(len(times))
    scores[(times >= 2000) & (times < 2300)] = 1.0  # one word: 3 high results
    scores[(times >= 6000) & (times < 6100)] = 1.0  # a single spike
    smoothed = S.smooth_scores(scores, times, average_window_ms=500, minimum_count=3)
    assert np.isnan(smoothed[:2]).all() and smoothed[24] == pytest.approx(3 / 5)
    assert smoothed[60] == pytest.approx(1 / 5)  # a spike alone is averaged down
    hits = S.detect(smoothed, times, threshold=0.5, suppression_ms=1500)
    assert list(hits) == [2200.0]  # fired once, when the average crossed 0.5
    rec = S.Recording(
        np.zeros(16000 * 10, np.float32),
        16000,
        np.array([[16000 * 2, 16000 * 3]]),
        np.zeros((0, 2), int),
    )
    assert S.match_detections(np.array([2200.0, 2400.0, 8000.0]), rec) == (1, 2)
    det = S.det_curve(scores, times, rec, thresholds=np.array([0.1, 0.5]), average_window_ms=500)
    assert det.loc[0, "false_activations"] == 1 and det.loc[1, "false_activations"] == 0
    assert S.pick_threshold(det, max_false_per_hour=0)["threshold"] == 0.5
    with pytest.raises(DataError, match="no threshold"):
        S.pick_threshold(det.iloc[:1], max_false_per_hour=0)


def test_feature_augmenter_alters_each_call_and_is_the_identity_when_switched_off():
    rng = np.random.default_rng(0)
    logmel = rng.normal(-3, 2, (8, 31, 20)).astype(np.float32)
    norm = F.fit_normalization(logmel)
    x = F.normalize(logmel, norm)[..., None]
    aug = FeatureAugmenter(logmel[:2], norm, seed=0)
    a, b = aug(x), aug(x)
    assert a.shape == x.shape and a.dtype == np.float32 and not np.allclose(a, b)
    off = {
        "max_shift_frames": 0,
        "gain": [1.0, 1.0],
        "noise_probability": 0.0,
        "time_masks": 0,
        "freq_masks": 0,
    }
    np.testing.assert_allclose(FeatureAugmenter(logmel[:2], norm, off)(x), x, atol=1e-4)
    masked = FeatureAugmenter(logmel[:2], norm, {**off, "freq_masks": 1, "freq_mask_bins": 20})(x)
    assert (masked == 0).any()


def test_augmented_batches_oversample_the_wake_word():
    y = np.array([1] * 10 + [0] * 90)
    x = np.zeros((100, 31, 20, 1), np.float32)

    def aug(batch):
        return batch + 1

    aug.positive_share = 0.5
    batches = AugmentedBatches(x, y, aug, batch_size=20, seed=0)
    ys = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert len(ys) == 180 and ys.mean() == pytest.approx(0.5)
    assert (batches[0][0] == 1).all()
    balanced = AugmentedBatches(x, np.array([1, 0] * 50), aug, batch_size=20, seed=0)
    assert len(balanced) == 5  # already above the share: nothing added, nothing dropped


def test_streaming_on_the_synthetic_stand_in_end_to_end():
    data = apps.prepare("keyword_spotting", source="synthetic", quick=True)
    clips = S.split_clips(data.preprocessing, "test")
    assert len(clips["wake_clips"]) and len(clips["noise_clips"])
    assert data.augmenter is not None and data.preprocessing["augment"]["noise"]

    def predict(x):
        return np.full(len(x), 0.3, np.float32)

    result = S.evaluate_streaming(predict, data.preprocessing, repeats=1, progress=False)
    assert result["chosen"]["false_per_hour"] <= 1.0
    assert result["test"]["miss_rate"] == 1.0  # 0.3 everywhere never reaches the chosen threshold
    assert "false activations per hour" in S.summary_markdown(result)
    with pytest.raises(DataError, match="part must be"):
        S.split_clips(data.preprocessing, "holdout")
