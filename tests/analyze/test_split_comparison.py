"""analyze.split_comparison: one row per (split, seed), the split really applied, a summary."""

from __future__ import annotations

import pytest

from tinyml_utils.analyze.split_comparison import compare_splits, summarize


def test_compare_splits_runs_each_split_and_seed():
    splits = {"by track": {"split": "track"}, "one test track": {"test_groups": ["blues.00000"]}}
    runs = compare_splits(
        "music_genre", splits, seeds=(3,), source="synthetic", epochs=1, progress=False
    )
    assert list(runs["split"]) == ["by track", "one test track"] and list(runs["seed"]) == [3, 3]
    assert (runs["data_source"] == "synthetic").all() and (runs["weights"] == 4362).all()
    assert list(runs["test"]) == [60, 1]  # 20 % of 300 synthetic tracks; the fixed one
    assert "(seed 3)" in runs["split_description"].iloc[0]
    assert runs["accuracy"].between(0, 1).all() and (runs["epochs_run"] == 1).all()
    summary = summarize(runs)
    assert list(summary.index) == ["by track", "one test track"]
    assert list(summary["runs"]) == [1, 1] and list(summary["test_examples"]) == [60, 1]
    assert summary.loc["by track", "mean_accuracy"] == pytest.approx(runs["accuracy"].iloc[0])
