"""Exercises: every checker passes the model answer, fails a wrong one with feedback and
never raises in student mode; notebooks run in student mode and record failed checks.

The solutions run of every notebook is test_notebooks.py's synthetic run (it passes
SOLUTIONS=True to notebooks that have exercises and requires every check to pass); here the
student-mode run of every notebook whose student version does not already run on the real
data (01-04, in test_notebooks.py), and of all of them with -m slow.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from tinyml_utils.notebook import exercises as ex
from tinyml_utils.notebook import solutions as sol
from tinyml_utils.notebook.runner import execute_notebook, find_notebooks


@pytest.fixture
def student(tmp_path):
    ex.start(tmp_path, solutions=False)
    yield tmp_path
    ex.start(None)


def _recorded(folder):
    return json.loads((folder / "results.json").read_text())["exercises"]


def test_missing_wrong_and_raising_answers_fail_gracefully(student, capsys):
    assert not ex.check_sparsity("t.1", None)
    assert "no answer yet" in capsys.readouterr().out

    def broken(w):
        raise ZeroDivisionError("oops")

    check = ex.check_sparsity("t.2", broken)
    assert not check and "raised ZeroDivisionError" in check.feedback
    check = ex.check_sparsity("t.3", lambda w: 0.5)
    assert not check and "count the exact zeros" in check.feedback
    assert ex.check_sparsity("t.4", sol.sparsity)
    assert _recorded(student) == {"t.1": False, "t.2": False, "t.3": False, "t.4": True}


def test_solutions_mode_raises_on_a_failing_check(tmp_path):
    ex.start(tmp_path, solutions=True)
    try:
        with pytest.raises(ex.ExerciseFailed, match="t.1"):
            ex.check_window_count("t.1", lambda n, w, h: n // h)
        assert ex.check_window_count("t.2", sol.count_windows)
    finally:
        ex.start(None)


def test_arithmetic_checkers_know_the_properties(student):
    x = np.linspace(-3, 3, 50).reshape(10, 5)
    assert ex.check_quantized("q.1", sol.quantize_input(x, 0.02, 3), x, 0.02, 3)
    assert not ex.check_quantized("q.2", np.round(x / 0.02).astype(np.int8), x, 0.02, 3)
    assert ex.check_symmetric_int8("q.3", sol.symmetric_int8)

    def truncating(w):
        scale = np.abs(w).max() / 127
        return (w / scale).astype(np.int8), scale

    assert not ex.check_symmetric_int8("q.4", truncating)
    y_true = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 0, 0, 0, 0, 1, 2, 0])
    assert ex.check_balanced_accuracy("q.5", sol.balanced_accuracy(y_true, y_pred), y_true, y_pred)
    plain = ex.check_balanced_accuracy("q.6", np.mean(y_true == y_pred), y_true, y_pred)
    assert not plain and "plain accuracy" in plain.feedback


def test_choice_checkers_use_the_measured_table(student):
    table = pd.DataFrame(
        {
            "variant": ["baseline", "pruned", "small", "tiny"],
            "int8_bytes": [20000, 20000, 10000, 5000],
            "accuracy": [0.90, 0.70, 0.88, 0.60],
        }
    )
    candidates = {r.variant: (r.int8_bytes, r.accuracy) for r in table.itertuples()}
    pick = sol.smallest_within(table.set_index("variant"), 0.05)
    assert pick == "small"
    assert ex.check_smallest_meeting("c.1", pick, candidates, minimum=0.85)
    assert not ex.check_smallest_meeting("c.2", "tiny", candidates, minimum=0.85)
    assert not ex.check_smallest_meeting("c.3", "baseline", candidates, minimum=0.85)
    assert not ex.check_smallest_meeting("c.4", "nonsense", candidates, minimum=0.85)
    truth = {"float32", "int8"}
    assert ex.check_set("c.5", {"int8", "float32"}, truth, "runs")
    assert not ex.check_set("c.6", {"int8", "float16"}, truth, "runs")
    assert ex.check_fit_answer("c.7", False, "uno", 10_000, 6_000)
    assert not ex.check_fit_answer("c.8", True, "uno", 10_000, 6_000)


def test_firmware_checkers(student):
    model = bytes(range(40)) * 3
    assert ex.check_c_array("f.1", sol.c_array, model)
    xxd_like = sol.c_array(model, "g_model").replace("alignas(16) const ", "")
    check = ex.check_c_array("f.2", lambda data, name: xxd_like, model)
    assert not check and "not const" in check.feedback and "alignas(16)" in check.feedback
    layers = pd.DataFrame({"index": [1], "op": ["CONV_2D"], "output_shape": ["1x256x1x8"]})
    layers["macs"] = 256 * 8 * 5 * 4
    tensors = pd.DataFrame(
        {
            "shape": ["1x256x4", "8x5x1x4", "8"],
            "kind": ["input", "weight", "weight"],
        }
    )
    assert ex.check_conv_macs("f.3", sol.first_conv_macs(tensors, layers), layers, 1)
    assert not ex.check_conv_macs("f.4", 256 * 8, layers, 1)


def test_resolver_checker_reads_the_model(student, tiny_int8_model):
    assert ex.check_resolver("r.1", sol.resolver_code(tiny_int8_model), tiny_int8_model)
    wrong = "static tflite::MicroMutableOpResolver<1> r;\nr.AddConv2D();\nr.AddConv2D();"
    check = ex.check_resolver("r.2", wrong, tiny_int8_model)
    assert not check and "missing" in check.feedback and "twice" in check.feedback


@pytest.mark.slow  # converts and measures two arenas; notebook 00's solutions run covers it too
def test_spec_fits_measures_the_arena(student, tiny_prepared):
    data, spec = tiny_prepared
    assert ex.check_spec_fits("s.1", sol.mega_spec(spec), data, "mega2560", ram_reserve=4096)
    wide = dataclasses.replace(spec, conv_filters=(64, 64), dense_units=(64,))
    check = ex.check_spec_fits("s.2", wide, data, "uno", ram_reserve=1024)
    assert not check and "arena" in check.feedback


@pytest.fixture(scope="module")
def tiny_prepared():
    from tinyml_utils import apps
    from tinyml_utils.model.cnn import CNNSpec

    data = apps.prepare("carsensor", source="synthetic", quick=True)
    spec = CNNSpec(
        input_shape=data.x_train.shape[1:],
        num_classes=len(data.class_names),
        conv_filters=(8, 16),
        pools=1,
        dense_units=(32,),
    )
    return data, spec


@pytest.fixture(scope="module")
def tiny_int8_model(tiny_prepared):
    from tinyml_utils.model.cnn import build_cnn
    from tinyml_utils.tflite.convert import convert

    data, spec = tiny_prepared
    return convert(build_cnn(spec, seed=0), "int8", data.x_train, num_calibration=20)


WITH_EXERCISES = [p for p in find_notebooks() if "SOLUTIONS = " in p.read_text()]
#: their student version already runs in CI on the real data (test_notebooks.py's
#: test_app_notebook_learns_from_real_data): here only with -m slow
STUDENT_RUN_ON_REAL_DATA = ("01_", "02_", "03_", "04_")


@pytest.mark.notebook
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p, marks=pytest.mark.slow if p.name.startswith(STUDENT_RUN_ON_REAL_DATA) else ()
        )
        for p in WITH_EXERCISES
    ],
    ids=lambda p: p.name,
)
def test_student_mode_runs_through_failing_checks(path):
    """No answers filled in: every check fails, prints why, and the notebook completes (the
    student version of every notebook runs in CI: here, or on the real data for 01-04)."""
    from tinyml_utils.core.paths import build_dir

    run = execute_notebook(
        path,
        build_dir() / "test-notebooks-student",
        quick=True,
        parameters={"DATA_SOURCE": "synthetic", "SOLUTIONS": False},
        progress=False,
    )
    recorded = run.results.get("exercises", {})
    assert len(recorded) >= 2, f"{path.name}: fewer than two exercises were checked"
    assert not any(recorded.values()), f"{path.name}: a check passed without an answer"
