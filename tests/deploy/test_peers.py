"""The committed generated-C-vs-TFLM table (benchmarks/mcu/peers.csv) as notebook 11 reads it."""

from __future__ import annotations

import pytest

from tinyml_utils.core.errors import DataError
from tinyml_utils.deploy import peers


def test_committed_peers_hold_every_app_and_implementation():
    table = peers.load_peers()
    apps = set(table["app"])
    assert {"motionsense", "carsensor", "keyword_spotting", "music_genre"} <= apps
    for app in apps:
        assert set(table[table["app"] == app]["impl"]) == set(peers.IMPLS)
    peers.check_claims(table)  # the generated C is ahead: the guard notebook 11 runs


def test_sentences_quote_the_table():
    table = peers.load_peers()
    r = peers.ratios(table)
    text = peers.summary_sentences(table)
    cyc = r["cycles: TFLM+CMSIS-NN / generated C"]
    assert f"{cyc.min():.1f}x to {cyc.max():.1f}x" in text


def test_a_regression_fails_the_claims(tmp_path):
    table = peers.load_peers()
    slower = table.copy()
    gen = slower["impl"] == "generated_c"
    slower.loc[gen, "cycles_estimate"] *= 10  # planted: generated C ten times slower
    with pytest.raises(AssertionError, match="no longer ahead"):
        peers.check_claims(slower)
    bigger = table.copy()
    bigger.loc[bigger["impl"] == "generated_c", "ram_bytes"] *= 5
    with pytest.raises(AssertionError, match="RAM"):
        peers.check_claims(bigger)


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="benchmark_peers.py"):
        peers.load_peers(tmp_path / "peers.csv")


def test_committed_sketch_flash_holds_its_claims():
    table = peers.load_sketch_flash()
    assert {"motionsense", "carsensor", "keyword_spotting", "music_genre"} <= set(table["app"])
    peers.check_sketch_flash(table)  # the guard notebook 11 runs
    r = table.set_index("app").loc["motionsense"]
    text = peers.sketch_flash_sentence(table, "motionsense")
    assert f"**{r.flash_all_ops:,} B**" in text and f"**{r.flash_int8_only:,} B**" in text
    assert "No committed sketch" in peers.sketch_flash_sentence(table, "toy")


def test_a_sketch_flash_regression_fails_the_claims():
    table = peers.load_sketch_flash()
    worse = table.copy()
    worse.loc[0, "flash_int8_only"] = worse.loc[0, "flash_default"] + 1  # planted
    with pytest.raises(AssertionError, match="not ordered"):
        peers.check_sketch_flash(worse)
    unequal = table.copy()
    unequal.loc[1, "outputs_equal"] = False
    with pytest.raises(AssertionError, match="outputs differ"):
        peers.check_sketch_flash(unequal)


def test_missing_sketch_flash_names_the_script(tmp_path):
    with pytest.raises(DataError, match="sketch_flash.py"):
        peers.load_sketch_flash(tmp_path / "sketch_flash.csv")
