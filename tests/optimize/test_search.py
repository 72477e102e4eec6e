"""Size search: enumeration, rejected specs, loss weighting, Pareto fronts, board budgets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tinyml_utils.core.errors import DataError
from tinyml_utils.model.cnn import CNNSpec, build_cnn
from tinyml_utils.optimize import boards, search
from tinyml_utils.optimize.search import (
    SearchSpace,
    add_loss,
    add_pareto,
    count_macs,
    enumerate_candidates,
    pareto_mask,
    spec_from_point,
    spec_params,
)


def test_enumeration_counts_and_rejections():
    space = SearchSpace(
        n_conv=(0, 1, 3), n_dense=(0, 1), pools=(1, 3), base_filters=(4, 8), dense_units=(8,)
    )
    found = enumerate_candidates(space, input_shape=(16, 2), num_classes=3)
    names = [s.name() for s in found.specs]
    assert len(names) == len(set(names)), "duplicate candidates were not removed"
    # N=0: pools/filters do not matter -> 1 model per M; N=1: 2 pools x 2 filters per M;
    # N=3 with Pi=3: 16 -> 2 -> 0 after block 2 (rejected); N=3 with Pi=1: 2 filters per M.
    assert len(found.specs) == 2 * (1 + 4 + 2)
    rejected = found.rejected_table()
    assert len(rejected) == space.size() - len(found.specs)
    pooled = rejected[
        rejected["candidate"].str.contains("N=3") & rejected["candidate"].str.contains("Pi=3")
    ]
    assert len(pooled) == 4 and pooled["rejected because"].str.contains("drops below 1").all()
    assert rejected["rejected because"].str.contains("same model as").sum() == 2 * 3
    widths = {s.conv_filters for s in found.specs if s.n_conv == 3}
    assert widths == {(4, 8, 16), (8, 16, 32)}  # filters double per block


def test_max_params_rejects_with_the_count():
    space = SearchSpace(
        n_conv=(1,), n_dense=(1,), pools=(1,), base_filters=(4, 64), dense_units=(8,)
    )
    limit = spec_params(enumerate_candidates(space, (16, 2), 3).specs[0])
    found = enumerate_candidates(dataclasses.replace(space, max_params=limit), (16, 2), 3)
    assert [s.conv_filters for s in found.specs] == [(4,)]
    assert "> max_params" in found.rejected[0][1]


@pytest.mark.parametrize(
    "spec",
    [
        CNNSpec((16, 2), 3, (4, 8), 1, (8,)),
        CNNSpec((16, 2), 4, (), 1, (8, 4), regulariser="batchnorm"),
        CNNSpec((8, 8, 1), 2, (4,), 2, ()),
    ],
    ids=["conv1d", "dense-bn", "conv2d"],
)
def test_spec_params_matches_keras(spec):
    assert spec_params(spec) == build_cnn(spec).count_params()


def test_count_macs_by_hand():
    spec = CNNSpec((16, 2), 3, (4,), 1, (8,), kernel_size=3)
    # conv: 16 positions x 3 taps x 2 in x 4 out; dense: 32 x 8; output: 8 x 3
    assert count_macs(build_cnn(spec)) == 16 * 3 * 2 * 4 + 32 * 8 + 8 * 3


def _table():
    return pd.DataFrame(
        {
            "candidate": ["big", "mid", "small"],
            "val_accuracy": [0.90, 0.85, 0.60],
            "weights_bytes": [10_000, 2_000, 500],
            "arena_bytes": [8_000, 4_000, np.nan],
            "macs": [100_000, 20_000, 1_000],
        }
    )


def test_loss_is_a_normalised_weighted_average():
    ranked = add_loss(_table(), w_accuracy=0.7, w_size=0.3).set_index("candidate")
    assert ranked.loc["mid", "loss"] == pytest.approx(0.7 * 0.15 + 0.3 * 0.2, abs=1e-4)
    assert ranked.loc["small", "size_term"] == pytest.approx(0.05)
    assert ranked.loc["small", "arena_term"] == 1.0  # no arena measured: worst
    same = add_loss(_table(), w_accuracy=7, w_size=3)
    assert same["loss"].tolist() == add_loss(_table(), 0.7, 0.3)["loss"].tolist()
    assert add_loss(_table(), 1, 0)["candidate"].tolist() == ["big", "mid", "small"]
    assert add_loss(_table(), 0, 1)["candidate"].tolist() == ["small", "mid", "big"]
    assert add_loss(_table(), 0, 0, 0, 1)["candidate"].iloc[0] == "small"
    with pytest.raises(DataError):
        add_loss(_table(), 0, 0)


def test_pareto_front_on_hand_made_points():
    # (accuracy up, bytes down)
    points = np.array(
        [[0.9, 100], [0.8, 50], [0.85, 120], [0.7, 10], [0.8, 60], [0.9, 100], [np.nan, 1]]
    )
    mask = pareto_mask(points, maximize=(True, False))
    assert mask.tolist() == [True, True, False, True, False, True, False]
    fronts = add_pareto(_table())
    assert fronts["pareto_size"].tolist() == [True, True, True]
    assert fronts["pareto_arena"].tolist() == [True, True, False]


def test_board_constraint_says_which_memory():
    nano = boards.check_fit("nano33ble", model_bytes=20_000, arena_bytes=10_000)
    assert nano.fits and nano.reason == "fits"
    uno = boards.check_fit("uno", model_bytes=20_000, arena_bytes=10_000)
    assert not uno.fits and len(uno.reasons) == 1 and uno.reasons[0].startswith("arena 9.8 KB")
    both = boards.check_fit("uno", model_bytes=40_000, arena_bytes=3_000)
    assert [r.split()[0] for r in both.reasons] == ["model", "arena"]
    assert not boards.check_fit("nano33ble", 1_000, None).fits
    reserved = boards.check_fit("mega2560", 1_000, 7_000, ram_reserve=2_048)
    assert not reserved.fits and "6.0 KB" in reserved.reason
    table = boards.fit_table(
        pd.DataFrame({"tflite_bytes": [20_000, 2_000], "arena_bytes": [10_000, 1_500]}),
        boards=("uno", "nano33ble"),
    )
    assert table["fits_uno"].tolist() == [False, True]
    assert table["fits_nano33ble"].tolist() == [True, True]
    assert table["why_not_uno"].iloc[0].startswith("arena")
    with pytest.raises(DataError, match="unknown board"):
        boards.get_board("teensy")


def test_fit_summary_names_the_best_fitting_candidate_per_board():
    ranked = pd.DataFrame(
        {
            "candidate": ["big", "small"],
            "tflite_bytes": [20_000, 2_000],
            "arena_bytes": [10_000, 1_500],
            "val_accuracy": [0.99, 0.9],
        }
    )
    summary = boards.fit_summary(boards.fit_table(ranked, boards=("uno", "nano33ble")))
    rows = summary.set_index("board")
    assert list(rows.index) == ["nano33ble", "uno"]
    assert rows.loc["nano33ble", "best_fitting (loss)"] == "big"
    assert rows.loc["uno", "best_fitting (loss)"] == "small"
    assert rows.loc["uno", "candidates_that_fit"] == "1 / 2"
    assert rows.loc["uno", "example rejection"].startswith("arena")


def test_most_accurate_fitting_picks_by_score_among_those_that_fit():
    table = pd.DataFrame(
        {
            "candidate": ["big", "mid", "twin", "small"],
            "tflite_bytes": [20_000, 6_000, 5_000, 2_000],
            "arena_bytes": [10_000, 7_000, 7_000, 1_500],
            "weights_bytes": [15_000, 3_000, 2_000, 500],
            "val_accuracy": [0.99, 0.95, 0.95, 0.9],
        }
    )
    assert boards.most_accurate_fitting(table, "nano33ble")["candidate"] == "big"
    assert boards.most_accurate_fitting(table, "mega2560")["candidate"] == "twin"  # tie: smaller
    assert boards.most_accurate_fitting(table, "uno")["candidate"] == "small"
    assert boards.most_accurate_fitting(table, "uno", ram_reserve=1_000) is None


@pytest.mark.parametrize("span", [(0.6, 45.0), (3.9, 10.6), (3.9, 7.2), (4.1, 4.9), (0.4, 900.0)])
def test_pareto_plot_labels_few_plain_ticks_whatever_the_span(span):
    """Issue 10: the Pareto plot's log-axis labels overlapped (every minor tick labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kb = np.geomspace(*span, 12)
    table = pd.DataFrame(
        {
            "candidate": [f"cnn_{i}" for i in range(12)],
            "weights_bytes": kb * 1024,
            "arena_bytes": kb[::-1] * 1024,
            "val_accuracy": np.linspace(0.5, 0.95, 12),
        }
    )
    fig = search.plot_pareto(table)
    fig.canvas.draw()
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        shown = [
            t
            for t in ax.xaxis.get_ticklabels(which="both")
            if t.get_text() and lo <= t.get_position()[0] <= hi
        ]
        assert 2 <= len(shown) <= 8, [t.get_text() for t in shown]
        boxes = sorted((t.get_window_extent() for t in shown), key=lambda b: b.x0)
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False)), (
            "tick labels overlap"
        )
        assert all("e" not in t.get_text() and "$" not in t.get_text() for t in shown)
    plt.close(fig)


def test_spec_from_point_is_canonical_and_says_why():
    space = SearchSpace(kernel_size=3, max_params=2_000)
    a, _ = spec_from_point(space, (16, 2), 3, 0, 1, 1, 4, 8)
    b, _ = spec_from_point(space, (16, 2), 3, 0, 1, 3, 16, 8)
    assert a == b and a.conv_filters == () and a.pools == 0
    none, why = spec_from_point(space, (16, 2), 3, 2, 0, 3, 4, 8)
    assert none is None and "drops below 1" in why
    none, why = spec_from_point(space, (16, 2), 3, 1, 1, 1, 64, 32)
    assert none is None and why.endswith("> max_params 2,000")
