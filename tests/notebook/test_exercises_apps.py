"""Exercises of notebooks 02-04: every checker passes the model answer, fails a plausible
wrong answer with the feedback a student needs, and never raises in student mode.

The notebooks' own solutions and student runs are test_notebooks.py's and
test_exercises.py's (they pick up every notebook with a ``SOLUTIONS`` parameter).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from tinyml_utils.data import features as F
from tinyml_utils.notebook import exercises as ex
from tinyml_utils.notebook import exercises_apps as exa
from tinyml_utils.notebook import solutions as sol


@pytest.fixture
def student(tmp_path):
    ex.start(tmp_path, solutions=False)
    yield tmp_path
    ex.start(None)


def _raises(*_args, **_kwargs):
    raise ValueError("oops")


def _recorded(folder):
    return json.loads((folder / "results.json").read_text())["exercises"]


# ------------------------------------------------------------------------------ 02


def test_resample_hold_knows_sample_and_hold(student):
    assert exa.check_resample_hold("a.1", sol.resample_hold)

    def linear(rows, rate):
        ticks = np.arange(rows[0, 0], rows[-1, 0], 1.0 / rate)
        return np.column_stack([np.interp(ticks, rows[:, 0], c) for c in rows[:, 1:].T])

    check = exa.check_resample_hold("a.2", linear)
    assert not check and "linear interpolation" in check.feedback

    def nearest(rows, rate):
        ticks = np.arange(rows[0, 0], rows[-1, 0], 1.0 / rate)
        return rows[np.abs(rows[:, :1].T - ticks[:, None]).argmin(axis=1), 1:]

    check = exa.check_resample_hold("a.3", nearest)
    assert not check and "NEAREST" in check.feedback

    def with_time(rows, rate):  # returns the time column too
        return np.column_stack(
            [np.arange(len(sol.resample_hold(rows, rate))), sol.resample_hold(rows, rate)]
        )

    check = exa.check_resample_hold("a.4", with_time)
    assert not check and "shape" in check.feedback
    check = exa.check_resample_hold("a.5", _raises)
    assert not check and "raised ValueError" in check.feedback
    assert _recorded(student) == {
        "a.1": True,
        "a.2": False,
        "a.3": False,
        "a.4": False,
        "a.5": False,
    }


def test_arena_budget_rejects_a_wrong_input_without_converting(student, carsensor_data):
    spec = _default_spec(carsensor_data)
    check = exa.check_arena_budget(
        "b.1", dataclasses.replace(spec, num_classes=3), carsensor_data, 2048
    )
    assert not check and "3 outputs for 2 classes" in check.feedback
    assert not exa.check_arena_budget("b.2", None, carsensor_data, 2048)


@pytest.mark.slow  # converts and measures three arenas; notebook 02's solutions run covers it
def test_arena_budget_measures_the_arena(student, carsensor_data):
    spec = _default_spec(carsensor_data)
    check = exa.check_arena_budget("b.3", sol.small_arena_spec(spec), carsensor_data, 2048, 2976)
    assert check, check.feedback
    fewer_filters = dataclasses.replace(spec, conv_filters=(4,))
    check = exa.check_arena_budget("b.4", fewer_filters, carsensor_data, 2048)
    assert not check and "fewer ops" in check.feedback
    linear = dataclasses.replace(spec, conv_filters=(), pools=0, dense_units=())
    check = exa.check_arena_budget("b.5", linear, carsensor_data, 2048)
    assert not check and "no hidden layer" in check.feedback


def test_shortest_window_is_judged_against_the_default(student):
    sweep = pd.DataFrame(
        {
            "window_s": [60.0, 60.0, 20.0, 30.0, 120.0],
            "pooled_balanced_accuracy": [0.888, 0.905, 0.85, 0.891, 0.913],
        },
        index=["default", "2 Hz", "20 s", "30 s", "120 s"],
    )
    candidates = {k: (r.window_s, r.pooled_balanced_accuracy) for k, r in sweep.iterrows()}
    pick = sol.shortest_window(sweep, 0.02)
    assert pick == "30 s"
    assert ex.check_smallest_meeting("c.1", pick, candidates, minimum=0.888 - 0.02)
    assert not ex.check_smallest_meeting("c.2", "20 s", candidates, minimum=0.888 - 0.02)
    assert not ex.check_smallest_meeting("c.3", "120 s", candidates, minimum=0.888 - 0.02)


# ------------------------------------------------------------------------------ 03


def test_false_alarm_rate_names_the_usual_mix_ups(student):
    y_true = np.array([0] * 20 + [1] * 5)
    y_pred = np.array([0] * 16 + [1] * 4 + [1, 1, 1, 0, 0])
    assert exa.check_false_alarm_rate("d.1", sol.false_alarm_rate(y_true, y_pred), y_true, y_pred)
    miss = exa.check_false_alarm_rate("d.2", 2 / 5, y_true, y_pred)
    assert not miss and "miss rate" in miss.feedback
    fdr = exa.check_false_alarm_rate("d.3", 4 / 7, y_true, y_pred)
    assert not fdr and "1 - precision" in fdr.feedback
    share = exa.check_false_alarm_rate("d.4", 4 / 25, y_true, y_pred)
    assert not share and "ALL clips" in share.feedback
    assert not exa.check_false_alarm_rate("d.5", "a lot", y_true, y_pred)


def _det(fa, miss):
    thresholds = np.round(np.linspace(0.1, 0.9, len(fa)), 3)
    return pd.DataFrame(
        {"threshold": thresholds, "miss_rate": miss, "false_per_hour": fa, "false_activations": fa}
    )


def test_threshold_choice_uses_the_validation_table(student):
    val = _det([20, 9, 4, 3, 1, 0, 0, 0, 0], [0.0, 0.02, 0.05, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8])
    test = _det([30, 5, 6, 2, 0.5, 0, 0, 0, 0], [0.0, 0.03, 0.04, 0.06, 0.1, 0.25, 0.3, 0.5, 0.9])
    pick = sol.threshold_for(val, 4.0)
    assert pick == pytest.approx(0.4)  # 0.3 and 0.4 tie on miss rate; either is right
    assert exa.check_threshold_choice("e.1", 0.3, val, test, 4.0)
    chosen = {"max": 1.0, "threshold": 0.5, "miss_rate": 0.1, "false_per_hour": 0.5}
    check = exa.check_threshold_choice("e.2", pick, val, test, 4.0, compared_to=chosen)
    assert check and "4.0 points of miss rate" in check.feedback
    too_low = exa.check_threshold_choice("e.3", 0.2, val, test, 4.0)
    assert not too_low and "raise the threshold" in too_low.feedback
    too_high = exa.check_threshold_choice("e.4", 0.6, val, test, 4.0)
    assert not too_high and "lower the threshold" in too_high.feedback
    off_grid = exa.check_threshold_choice("e.5", 0.42, val, test, 4.0)
    assert not off_grid and "not in the table" in off_grid.feedback
    on_test = exa.check_threshold_choice("e.6", 0.2, val, test, 6.0)
    assert not on_test and "TEST table" in on_test.feedback


# ------------------------------------------------------------------------------ 04


def test_feature_shape_against_the_front_ends(student):
    preset = F.AUDIO_PRESETS["music_genre"]
    assert exa.check_feature_shape("f.1", lambda s: sol.feature_shape(s, preset), preset)
    n = lambda s: int(round(s * preset["sample_rate"]))  # noqa: E731
    uncentred = exa.check_feature_shape("f.2", lambda s: (1 + (n(s) - 2048) // 512, 13), preset)
    assert not uncentred and "center=True" in uncentred.feedback
    swapped = exa.check_feature_shape("f.3", lambda s: sol.feature_shape(s, preset)[::-1], preset)
    assert not swapped and "(frames, bins)" in swapped.feedback
    assert not exa.check_feature_shape("f.4", _raises, preset)
    kws = F.AUDIO_PRESETS["keyword_spotting"]
    check = exa.check_feature_shape("f.5", lambda s: sol.feature_shape(s, kws), kws)
    assert check and "one second gives 31 frames" in check.feedback
    centred = exa.check_feature_shape("f.6", lambda s: (1 + int(s * 16000) // 500, 20), kws)
    assert not centred and "center=False" in centred.feedback
    mfcc_bins = exa.check_feature_shape("f.7", lambda s: (sol.feature_shape(s, kws)[0], 13), kws)
    assert not mfcc_bins and "n_mels = 20" in mfcc_bins.feedback


def test_split_gap_from_the_runs(student):
    runs = pd.DataFrame(
        {
            "split": ["random track"] * 3 + ["artist-disjoint"] * 3,
            "accuracy": [0.70, 0.74, 0.72, 0.50, 0.54, 0.52],
        }
    )
    gap, beyond = sol.split_gap(runs)
    assert gap == pytest.approx(20.0) and beyond
    assert exa.check_split_gap("g.1", gap, beyond, runs)
    fraction = exa.check_split_gap("g.2", gap / 100, beyond, runs)
    assert not fraction and "multiply by 100" in fraction.feedback
    check = exa.check_split_gap("g.3", gap, False, runs)
    assert not check and "larger than the seed-to-seed spread" in check.feedback
    overlapping = runs.assign(accuracy=[0.60, 0.74, 0.72, 0.50, 0.54, 0.65])
    gap, beyond = sol.split_gap(overlapping)
    assert not beyond and exa.check_split_gap("g.4", gap, beyond, overlapping)
    assert not exa.check_split_gap("g.5", -gap, beyond, overlapping)


def test_solutions_mode_stops_on_a_wrong_answer(tmp_path):
    ex.start(tmp_path, solutions=True)
    try:
        with pytest.raises(ex.ExerciseFailed, match="x.1"):
            exa.check_false_alarm_rate("x.1", 0.5, [0, 1], [0, 1])
    finally:
        ex.start(None)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def carsensor_data():
    from tinyml_utils import apps

    return apps.prepare("carsensor", source="synthetic", quick=True, val_size=0.0)


def _default_spec(data):
    from tinyml_utils import apps

    return apps.default_spec("carsensor", data)


def test_threshold_choice_says_when_a_looser_limit_buys_nothing(student):
    val = _det([3, 0, 0], [0.1, 0.1, 0.5])
    chosen = {"max": 1.0, "threshold": 0.5, "miss_rate": 0.1, "false_per_hour": 0.0}
    check = exa.check_threshold_choice("h.1", 0.5, val, val, 5.0, compared_to=chosen)
    assert check and "buys nothing" in check.feedback


def test_threshold_choice_says_when_the_detector_never_fires(student):
    val = _det([9, 6, 0], [0.2, 0.6, 1.0])
    check = exa.check_threshold_choice("h.2", 0.9, val, val, 5.0)
    assert check and "never fires" in check.feedback


def test_an_unwritten_function_is_named(student):
    preset = F.AUDIO_PRESETS["music_genre"]
    check = exa.check_feature_shape("i.1", lambda s: None, preset)
    assert not check and "returned None" in check.feedback
    check = exa.check_resample_hold("i.2", lambda rows, rate: None)
    assert not check and "returned None" in check.feedback


def test_worst_classes_by_recall(student):
    names = ["blues", "jazz", "rock"]
    y_true = np.array([0] * 4 + [1] * 4 + [2] * 4)
    y_pred = np.array([0, 0, 0, 0, 1, 1, 2, 2, 0, 2, 2, 2])  # recall 1.0, 0.5, 0.75
    assert sol.worst_classes(y_true, y_pred, names) == {"jazz"}
    assert exa.check_worst_classes("j.1", {"jazz"}, y_true, y_pred, names)
    assert exa.check_worst_classes("j.2", "jazz", y_true, y_pred, names)
    by_precision = exa.check_worst_classes("j.3", "rock", y_true, y_pred, names)
    assert not by_precision and "PRECISION" in by_precision.feedback
    assert not exa.check_worst_classes("j.4", {"polka"}, y_true, y_pred, names)
    perfect = y_true.copy()
    tie = exa.check_worst_classes("j.5", {"jazz"}, y_true, perfect, names)
    assert not tie and "name all" in tie.feedback
    all_tied = sol.worst_classes(y_true, perfect, names)
    check = exa.check_worst_classes("j.6", all_tied, y_true, perfect, names)
    assert check and "every class ties" in check.feedback
