"""Checkers for notebook 05's exercises (searching the CNN template for small AND accurate
models).

Same contract as :mod:`tinyml_utils.notebook.exercises` (whose machinery they share): a
checker knows the *properties* of a right answer, recomputes them from the run or tests
the student's function on cases of its own, prints feedback that says what is wrong and
where to look, never raises in student mode, and records the check in ``results.json``.

* 05.1 :func:`check_pareto_front`: the Pareto front of a candidates table, by hand.
* 05.2 :func:`check_loss_weight`: the least weight on accuracy whose pick stays within a
  tolerance of the best accuracy.
* 05.3 :func:`check_boards_for`: which boards can hold a model of a given file size and
  measured arena.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from tinyml_utils.notebook.exercises import Check, _guarded
from tinyml_utils.optimize.boards import BOARDS, check_fit
from tinyml_utils.optimize.search import add_loss

# ----------------------------------------------------------------- 05.1 the Pareto front


def _dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(accuracy, size) ``a`` is at least as accurate and as small as ``b``, better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def brute_force_front(
    table: pd.DataFrame, accuracy: str = "val_accuracy", size: str = "weights_bytes"
) -> set:
    """The definition, literally: the candidates no other candidate dominates."""
    points = {
        name: (float(a), float(s))
        for name, a, s in zip(table["candidate"], table[accuracy], table[size], strict=True)
    }
    return {n for n, p in points.items() if not any(_dominates(q, p) for q in points.values())}


def _test_tables(seed: int = 5) -> list[pd.DataFrame]:
    """Tables of the checker's own: few distinct values, so ties happen, plus one with
    twins, equal sizes and equal accuracies placed on purpose."""
    rng = np.random.default_rng(seed)
    tables = [
        pd.DataFrame(
            {
                "candidate": ["a", "b", "c", "d", "e"],
                "val_accuracy": [0.9, 0.9, 0.8, 0.9, 0.95],
                "weights_bytes": [1000, 1000, 500, 1500, 3000],
            }
        )
    ]
    for n in (1, 2, 7, 15, 30):
        tables.append(
            pd.DataFrame(
                {
                    "candidate": [f"t{i}" for i in range(n)],
                    "val_accuracy": rng.choice(np.round(np.linspace(0.3, 1.0, 8), 3), n),
                    "weights_bytes": rng.choice([400, 700, 1200, 2500, 5000, 9000], n),
                }
            )
        )
    return tables


def _names(answer: Any) -> set:
    if isinstance(answer, pd.DataFrame):
        answer = answer["candidate"]
    if isinstance(answer, str) or not isinstance(answer, Iterable):
        raise TypeError(f"return the candidates' names (a list or set), not {answer!r}")
    return set(answer)


def check_pareto_front(exercise: str, pareto_front: Callable | None, table: pd.DataFrame) -> Check:
    """``pareto_front(table) -> names``: the candidates of ``table`` (columns candidate,
    val_accuracy, weights_bytes) that no other candidate dominates. Tested on the run's
    table and on tables of the checker's own (ties, twins, one row)."""

    def body():
        cases = [("this run's table", table)] + [
            (f"test table {i} ({len(t)} rows)", t) for i, t in enumerate(_test_tables(), 1)
        ]
        for label, t in cases:
            answer = pareto_front(t.copy())
            if answer is None:
                return ["pareto_front returned None: return the front's candidate names"], ""
            got, want = _names(answer), brute_force_front(t)
            if got == want:
                continue
            points = {
                r.candidate: (float(r.val_accuracy), float(r.weights_bytes)) for r in t.itertuples()
            }
            problems = []
            for name in sorted(got - want, key=str)[:2]:
                if name not in points:
                    problems.append(f"{label}: {name!r} is not a candidate of the table")
                    continue
                by = next(n for n, q in points.items() if _dominates(q, points[name]))
                problems.append(
                    f"{label}: {name!r} {points[name]} is dominated by {by!r} {points[by]} "
                    "(at least as accurate, at least as small, better in one): not on the front"
                )
            for name in sorted(want - got, key=str)[:2]:
                twins = [n for n, q in points.items() if q == points[name] and n != name]
                hint = (
                    f"; {twins[0]!r} is the same point, and equal points do not dominate each "
                    "other (strictly better in one is required)"
                    if twins
                    else ": nothing is at least as accurate AND at least as small"
                )
                problems.append(f"{label}: {name!r} {points[name]} is missing{hint}")
            return problems, ""
        front = sorted(brute_force_front(table), key=str)
        return [], f"{len(front)} of {len(table)} candidates on this run's front: {front}."

    return _guarded(exercise, pareto_front, body)


# ------------------------------------------------------------ 05.2 the weight of the loss


def loss_pick(table: pd.DataFrame, w_accuracy: float) -> pd.Series:
    """The candidate the reference loss ranks first for ``w_accuracy`` (size: the rest)."""
    return add_loss(table, w_accuracy, 1.0 - w_accuracy).iloc[0]


def check_loss_weight(exercise: str, w: Any, table: pd.DataFrame, tolerance: float) -> Check:
    """``w``: the least ``w_accuracy`` (in steps of 0.01, > 0) whose loss pick is within
    ``tolerance`` of the best validation accuracy of ``table``."""

    def body():
        weight = float(w)
        if not 0 < weight <= 1 or abs(weight * 100 - round(weight * 100)) > 1e-9:
            return [f"w_accuracy={w!r}: give a weight in (0, 1] in steps of 0.01"], ""
        weight = round(weight, 2)
        best = float(table["val_accuracy"].max())
        bar = best - tolerance
        pick = loss_pick(table, weight)
        facts = f"{pick['candidate']} ({pick['val_accuracy']:.4f}, {int(pick['weights_bytes'])} B)"
        if float(pick["val_accuracy"]) < bar - 1e-9:
            return [
                f"w_accuracy={weight:.2f} picks {facts}, more than {tolerance} below the best "
                f"accuracy {best:.4f}: size still weighs too much, raise w_accuracy"
            ], ""
        if weight > 0.01:
            lower = loss_pick(table, round(weight - 0.01, 2))
            if float(lower["val_accuracy"]) >= bar - 1e-9:
                return [
                    f"w_accuracy={weight - 0.01:.2f} also picks a candidate within {tolerance} "
                    f"of the best ({lower['candidate']}, {lower['val_accuracy']:.4f}): lower "
                    "the weight until the pick drops out of the band, then go one step back up"
                ], ""
        band = table[table["val_accuracy"].astype(float) >= bar - 1e-9]
        smallest = band.sort_values("weights_bytes", kind="stable").iloc[0]
        if smallest["weights_bytes"] < pick["weights_bytes"]:
            note = (
                f" The smallest candidate in the band, {smallest['candidate']} "
                f"({int(smallest['weights_bytes'])} B), is smaller: no weight of this loss "
                "picks it (a higher weight only picks bigger, more accurate candidates)."
            )
        else:
            note = " It is also the smallest candidate in that band."
        band_text = (
            "the most accurate candidate" if tolerance == 0 else f"within {tolerance} of the best"
        )
        least = "the least weight allowed" if weight == 0.01 else "0.01 less would not"
        return (
            [],
            f"w_accuracy={weight:.2f} picks {facts}, {band_text} ({best:.4f}); {least}.{note}",
        )

    return _guarded(exercise, w, body)


# ---------------------------------------------------------------- 05.3 boards for a model


def _fitting_boards(tflite_bytes: int, arena_bytes: int | None) -> set:
    return {k for k in BOARDS if check_fit(k, tflite_bytes, arena_bytes).fits}


def _cases(table: pd.DataFrame) -> list[tuple[int, int | None, str]]:
    cases = [
        (int(r.tflite_bytes), None if pd.isna(r.arena_bytes) else int(r.arena_bytes), r.candidate)
        for r in table.itertuples()
    ]
    for key, board in BOARDS.items():
        cases += [
            (board.flash_bytes, board.ram_bytes, f"exactly {key}'s flash and RAM"),
            (board.flash_bytes + 1, 100, f"1 byte more than {key}'s flash"),
            (100, board.ram_bytes + 1, f"1 byte more than {key}'s RAM"),
        ]
    return cases + [(1000, None, "a model TFLM cannot run (no arena)")]


def check_boards_for(exercise: str, boards_for: Callable | None, table: pd.DataFrame) -> Check:
    """``boards_for(tflite_bytes, arena_bytes) -> board keys``: the boards of
    ``optimize.boards.BOARDS`` that can hold such a model (``arena_bytes=None``: TFLM does
    not run it). Tested on every candidate of ``table`` and on budgets' edges."""

    def body():
        problems = []
        for flash, arena, what in _cases(table):
            answer = boards_for(flash, arena)
            if answer is None or isinstance(answer, str):
                return [f"boards_for returned {answer!r}: return a set of board keys"], ""
            got = set(answer)
            want = _fitting_boards(flash, arena)
            if got == want:
                continue
            size = f"{what}: file {flash} B, arena {arena} B"
            for key in sorted(got - want, key=str):
                reason = check_fit(key, flash, arena).reason if key in BOARDS else "no such board"
                problems.append(f"{size}: {key!r} cannot hold it ({reason})")
            for key in sorted(want - got):
                problems.append(
                    f"{size}: {key!r} can (file <= {BOARDS[key].flash_bytes} B of flash, "
                    f"arena <= {BOARDS[key].ram_bytes} B of RAM; a budget is 'at most')"
                )
            if len(problems) >= 3:
                break
        if problems:
            problems.append(
                "the .tflite file goes to flash and the arena to RAM; a model needs both"
            )
        return problems, (
            f"Right for all {len(table)} candidates and every budget's edge: flash holds the "
            "file, RAM the arena, and a model TFLM cannot run fits nowhere."
        )

    return _guarded(exercise, boards_for, body)
