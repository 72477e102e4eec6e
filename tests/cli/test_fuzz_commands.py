"""The fuzz campaign of issue 12 (scripts/fuzz_commands.py): a fast sample on every run.

The full campaign (>= 1,000 mutants per command, the bad-data corpus) is a slow run whose
counts are committed in benchmarks/fuzz.csv / fuzz.md; here a few mutants per command
must give no traceback, crash, hang or memory blow-up.
"""

from __future__ import annotations

import csv
import importlib.util
import sys

import pytest

from tinyml_utils.core.paths import repo_root, shared_data_dir


def _script():
    path = repo_root() / "scripts" / "fuzz_commands.py"
    spec = importlib.util.spec_from_file_location("fuzz_commands", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_commands"] = module
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, *args: str) -> dict[str, dict[str, str]]:
    fuzz = _script()
    data = shared_data_dir()
    out = tmp_path / "fuzz"
    argv = ["--out", str(out), "--seed", "7", *args]
    if data is not None:
        argv += ["--data-dir", str(data)]
    fuzz.main(argv)
    with open(out.with_suffix(".csv")) as f:
        return {row["command"]: row for row in csv.DictReader(f)}


def test_fuzz_sample_has_no_bad_outcome(tmp_path):
    rows = _run(tmp_path, "--mutants", "2", "--jobs", "2", "--no-bad-data")
    assert {"diagnose", "export", "benchmark"} <= set(rows)
    for command, row in rows.items():
        assert int(row["cases"]) == 2, row
        assert int(row["ok"]) + int(row["error"]) == 2, row
        for outcome in ("traceback", "crash", "hang", "memory"):
            assert row[outcome] == "0", (command, row)


def test_mutants_are_reproducible():
    fuzz = _script()
    import random

    data = (repo_root() / "models" / "carsensor" / "model_int8.tflite").read_bytes()
    a = fuzz.mutate(data, random.Random("s:1"), [(0, 100)])
    b = fuzz.mutate(data, random.Random("s:1"), [(0, 100)])
    assert a == b and a[0] != data


#: corpus cases allowed to fail: none (the GTZAN features reader names the line of a NaN or a
#: short row; the Speech Commands reader warns with counts when clips are padded or trimmed)
OPEN_IN_OTHER_LOADERS: set[str] = set()


@pytest.mark.slow
def test_bad_data_corpus(tmp_path):
    rows = _run(tmp_path, "--mutants", "0")
    corpus = rows["bad_data_corpus"]
    for outcome in ("traceback", "crash", "hang", "memory"):
        assert corpus[outcome] == "0", corpus
    table = (tmp_path / "fuzz.md").read_text()
    failed = {line.split(" | ")[0].strip("| ") for line in table.splitlines() if "| NO |" in line}
    assert failed <= OPEN_IN_OTHER_LOADERS, failed - OPEN_IN_OTHER_LOADERS
