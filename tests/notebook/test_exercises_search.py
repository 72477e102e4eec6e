"""Notebook 05's exercise checkers: the model answer passes, plausible wrong answers fail
with feedback that points at the mistake, and a raising answer never raises in student
mode. (The notebook's solutions run is test_notebooks.py's synthetic run.)"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tinyml_utils.notebook import exercises as ex
from tinyml_utils.notebook import exercises_search as exs
from tinyml_utils.notebook import solutions as sol
from tinyml_utils.optimize import boards
from tinyml_utils.optimize.search import add_pareto


@pytest.fixture
def student(tmp_path):
    ex.start(tmp_path, solutions=False)
    yield tmp_path
    ex.start(None)


def _table(seed=0, n=12):
    """A candidates table shaped like notebook 05's (sizes grow with accuracy, loosely)."""
    rng = np.random.default_rng(seed)
    weights = rng.choice([700, 900, 1400, 2200, 4000, 8500, 17000, 33000], n)
    return pd.DataFrame(
        {
            "candidate": [f"cnn_{i}" for i in range(n)],
            "weights_bytes": weights,
            "tflite_bytes": weights + rng.integers(3000, 6000, n),
            "arena_bytes": rng.integers(3500, 11000, n),
            "macs": rng.integers(20_000, 400_000, n),
            "val_accuracy": np.round(0.6 + 0.35 * np.log(weights) / np.log(33000), 3)
            - np.round(rng.uniform(0, 0.08, n), 3),
        }
    )


def test_pareto_front_model_answer_matches_the_package(student):
    table = _table()
    check = exs.check_pareto_front("05.1", sol.pareto_front, table)
    assert check, check.feedback
    assert set(sol.pareto_front(table)) == set(add_pareto(table).query("pareto_size")["candidate"])


def test_pareto_front_wrong_answers_name_the_mistake(student):
    def strict(table):  # "strictly better in both": keeps dominated points that tie on one
        rows = list(
            zip(table["candidate"], table["val_accuracy"], table["weights_bytes"], strict=True)
        )
        return [n for n, a, s in rows if not any(a2 > a and s2 < s for _, a2, s2 in rows)]

    check = exs.check_pareto_front("05.1", strict, _table())
    assert not check and "is dominated by" in check.feedback

    def weak(table):  # "at least as good in both": twins knock each other out
        rows = list(
            zip(table["candidate"], table["val_accuracy"], table["weights_bytes"], strict=True)
        )
        return [
            n
            for i, (n, a, s) in enumerate(rows)
            if not any(a2 >= a and s2 <= s for j, (_, a2, s2) in enumerate(rows) if j != i)
        ]

    check = exs.check_pareto_front("05.1", weak, _table())
    assert not check and "equal points do not dominate" in check.feedback
    check = exs.check_pareto_front("05.1", lambda t: list(t["candidate"][:1]), _table())
    assert not check and "missing" in check.feedback


def test_loss_weight_is_the_least_that_keeps_the_pick_in_the_band(student):
    table = _table(seed=3)
    w = sol.least_accuracy_weight(table, 0.01)
    check = exs.check_loss_weight("05.2", w, table, 0.01)
    assert check, check.feedback
    best = table["val_accuracy"].max()
    assert exs.loss_pick(table, w)["val_accuracy"] >= best - 0.01
    if w > 0.01:
        assert exs.loss_pick(table, round(w - 0.01, 2))["val_accuracy"] < best - 0.01
        low = exs.check_loss_weight("05.2", round(w - 0.01, 2), table, 0.01)
        assert not low and "raise w_accuracy" in low.feedback
    high = exs.check_loss_weight("05.2", 1.0, table, 0.01)
    assert w == 1.0 or (not high and "lower the weight" in high.feedback)
    assert "steps of 0.01" in exs.check_loss_weight("05.2", 0.333, table, 0.01).feedback
    exact = sol.least_accuracy_weight(table, 0.0)  # tolerance 0: the most accurate itself
    assert exs.loss_pick(table, exact)["val_accuracy"] == best
    assert exs.check_loss_weight("05.2", exact, table, 0.0), "the most accurate candidate"
    assert "steps of 0.01" in exs.check_loss_weight("05.2", 0.0, table, 0.01).feedback


def test_boards_for_model_answer_and_edge_mistakes(student):
    table = _table(seed=5)
    check = exs.check_boards_for("05.3", sol.boards_for, table)
    assert check, check.feedback

    def strict(flash, arena):  # "<" instead of "<=": the exact budget is refused
        if arena is None:
            return set()
        return {
            k for k, b in boards.BOARDS.items() if flash < b.flash_bytes and arena < b.ram_bytes
        }

    check = exs.check_boards_for("05.3", strict, table)
    assert not check and "a budget is 'at most'" in check.feedback

    def flash_only(flash, arena):  # forgets the RAM (and that no arena means no board)
        return {k for k, b in boards.BOARDS.items() if flash <= b.flash_bytes}

    check = exs.check_boards_for("05.3", flash_only, table)
    assert not check and "arena" in check.feedback and "cannot hold it" in check.feedback


def test_raising_or_missing_answers_do_not_raise_in_student_mode(student):
    def broken(*args):
        raise KeyError("val_acc")

    table = _table()
    assert not exs.check_pareto_front("05.1", broken, table)
    assert not exs.check_boards_for("05.3", broken, table)
    assert "returned None" in exs.check_pareto_front("05.1", lambda t: None, table).feedback
    assert "no answer yet" in exs.check_loss_weight("05.2", None, table, 0.01).feedback
    wrong_type = exs.check_loss_weight("05.2", "heavy", table, 0.01)
    assert not wrong_type and "raised ValueError" in wrong_type.feedback
    recorded = json.loads((student / "results.json").read_text())["exercises"]
    assert recorded == {"05.1": False, "05.3": False, "05.2": False}  # the last of each


def test_solutions_mode_raises_on_a_wrong_answer(tmp_path):
    ex.start(tmp_path, solutions=True)
    try:
        with pytest.raises(ex.ExerciseFailed, match="05.3"):
            exs.check_boards_for("05.3", lambda f, a: {"uno"}, _table())
    finally:
        ex.start(None)
