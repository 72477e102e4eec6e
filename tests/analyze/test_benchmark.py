"""The benchmarking tool end to end: Python API, files, CLI, bad input and a fuzz test."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tinyml_utils.analyze import samples
from tinyml_utils.analyze.benchmark import analyze_structure, benchmark
from tinyml_utils.core.errors import ModelFileError


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return samples.sample_models(samples.SPEC_2D)


@pytest.fixture(scope="module")
def labelled(models):
    from tinyml_utils.tflite.interpreters import run_tflite

    x = samples.sample_inputs(samples.SPEC_2D, n=40, seed=5)
    # Labels = the float model's own predictions, shuffled a bit: accuracy is neither 0 nor 1.
    y = run_tflite(models["float32"], x).argmax(1)
    y[::3] = (y[::3] + 1) % 4
    return x, y


def test_accuracy_is_the_interpreters(models, labelled):
    from tinyml_utils.tflite.interpreters import run_tflite

    x, y = labelled
    report = benchmark({"int8": models["int8"]}, data=(x, y), runs=3, arena=False)
    expected = float(np.mean(run_tflite(models["int8"], x).argmax(1) == y))
    assert report["int8"].accuracy["accuracy"] == round(expected, 4)
    assert 0 < expected < 1
    assert report["int8"].accuracy["n_eval"] == 40


def test_several_models_one_comparison_table(models, labelled, tmp_path):
    x, y = labelled
    np.savez(tmp_path / "test.npz", x=x, y=y)
    report = benchmark(models, data=tmp_path / "test.npz", runs=5, out_dir=tmp_path / "out")
    table = report.comparison
    assert list(table["model"]) == ["float32", "dynamic_range", "float16", "int8"]
    assert list(table["file_bytes"]) == [len(models[k]) for k in table["model"]]
    assert list(table["tflm_runs"]) == [True, False, False, True]
    assert table["macs"].nunique() == 1  # same architecture, same arithmetic
    assert (table["median_ms"] > 0).all() and (table["threads"] == 1).all()
    # Planned vs measured: the int8 plan equals TFLM's head, the arena adds the tail.
    pvm = report.planned_vs_measured().set_index("model")
    assert pvm.loc["int8", "tflm_arena_bytes"] > pvm.loc["int8", "planned_peak_bytes"]
    # Files: one xlsx with a comparison sheet and one sheet per model.
    from openpyxl import load_workbook

    sheets = load_workbook(tmp_path / "out" / "benchmark.xlsx").sheetnames
    assert sheets == ["comparison", "float32", "dynamic_range", "float16", "int8"]
    for name in ("comparison.csv", "summary.md", "summary.html", "comparison.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert (tmp_path / "out" / "int8" / "arena.png").stat().st_size > 0
    assert "Planned peak vs measured TFLM arena" in (tmp_path / "out" / "summary.md").read_text()


def test_model_the_interpreters_lack_gets_a_row_with_the_reason():
    report = benchmark({"custom": samples.unsupported_model("custom")}, runs=2)
    row = report.comparison.iloc[0]
    assert row["error"] == ""  # the file itself is fine: structure is analysed
    assert row["n_ops"] == 1 and "CUSTOM:MatrixDeterminant" in row["op_types"]
    assert not row["tflm_runs"]
    assert "unresolved custom op" in row["latency_error"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a TFLite flatbuffer"),
        (None, "truncated"),
    ],
)
def test_bad_files_become_rows_or_errors(models, tmp_path, content, message):
    path = tmp_path / "bad.tflite"
    path.write_bytes(models["int8"][:1500] if content is None else content)
    report = benchmark([path], runs=2)
    assert message in report.comparison.iloc[0]["error"]
    with pytest.raises(ModelFileError, match=message):
        benchmark([path], errors="raise")


def test_missing_file_is_a_row(tmp_path):
    report = benchmark([tmp_path / "nope.tflite"])
    assert "no such file" in report.comparison.iloc[0]["error"]


def test_cli_end_to_end(models, labelled, tmp_path, capsys):
    from tinyml_utils.cli import main

    model = tmp_path / "tiny_int8.tflite"
    model.write_bytes(models["int8"])
    x, y = labelled
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "bench"
    args = ["benchmark", str(model), "--data", str(tmp_path / "d.npz"), "--out", str(out)]
    code = main([*args, "--runs", "5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "tiny_int8" in printed and "planned_peak_bytes" in printed
    for name in ("comparison.csv", "comparison.md", "summary.md", "benchmark.xlsx"):
        assert (out / name).is_file()
    for name in ("layers.csv", "tensors.csv", "memory.csv", "arena.png", "per_op.png"):
        assert (out / "tiny_int8" / name).is_file()
    import pandas as pd

    table = pd.read_csv(out / "comparison.csv")
    assert (
        table.loc[0, "accuracy"]
        == benchmark(model, data=(x, y), arena=False).comparison.loc[0, "accuracy"]
    )


def test_cli_bad_file_is_one_line(tmp_path, capsys):
    from tinyml_utils.cli import main

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"")
    code = main(["benchmark", str(bad), "--out", str(tmp_path / "o"), "--no-plots"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"tinyml benchmark: error: {bad}: the file is empty (0 bytes); re-export the model."
    ]


# ----------------------------------------------------------------------------- fuzzing


def _mutants(seeds: list[bytes], n: int, rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(n):
        b = bytearray(rng.choice(seeds))
        kind = rng.choice(["flip", "flip", "insert", "delete", "word", "truncate"])
        if kind == "flip":
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif kind == "insert":
            i = rng.randrange(len(b))
            b[i:i] = rng.randbytes(rng.randint(1, 16))
        elif kind == "delete":
            i = rng.randrange(len(b))
            del b[i : i + rng.randint(1, 16)]
        elif kind == "word":  # an offset or length replaced by an extreme value
            i = rng.randrange(0, len(b) - 4) & ~3
            b[i : i + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\xff\xff\xff\xff", rng.randbytes(4)])
        else:
            b = b[: rng.randrange(len(b))]
        out.append(bytes(b))
    return out


def test_fuzz_mutated_and_truncated_models_never_crash(models):
    seeds = [
        models["int8"],
        models["float32"],
        models["float16"],
        samples.sample_models(samples.SPEC_1D)["int8"],
    ]
    rng = random.Random(1234)
    cases = _mutants(seeds, 1200, rng)
    cases += [seeds[0][:cut] for cut in range(0, len(seeds[0]), 37)]  # every truncation length
    analysed, rejected, valid = 0, 0, []
    for data in cases:
        try:
            analyze_structure(data)  # structure + arena plan + MACs
            analysed += 1
            if data not in seeds:
                valid.append(data)
        except ModelFileError:
            rejected += 1
    assert analysed + rejected == len(cases) >= 1000
    assert analysed > 50 and rejected > 500  # both outcomes are exercised
    # Files that pass validation go through the interpreters too: TFLM and TFLite run in
    # child processes first, so a crash there cannot take this process down.
    sample = rng.sample(valid, 8)
    report = benchmark(sample, runs=2, warmup=0, plots=False)
    assert len(report.models) == 8
    for m in report.models:
        assert m.error is None and m.arena is not None
        assert m.latency is not None or m.latency_error
