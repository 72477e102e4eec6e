"""Issue 12, findings 2, 4 (writers), 5 and 6: outputs are safe to write and to re-run.

Nothing committed or hand-edited is overwritten without --force, writers survive any name
a model holds, two runs never mix their files, and the small CLI findings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from robust_helpers import CARSENSOR, cli, named_error, tinyml

from tinyml_utils.core.files import LOCK_NAME, OutputLock, atomic_path, atomic_write_text
from tinyml_utils.core.paths import repo_root

# --------------------------------------------------------------------------- finding 2


def test_train_reference_refuses_an_existing_set_without_force(tmp_path):
    """Finding 2: train-reference overwrote models/<app>/ in place without asking."""
    out = tmp_path / "models"
    shutil.copytree(CARSENSOR.parent, out / "carsensor")
    before = {p.name: p.read_bytes() for p in (out / "carsensor").iterdir()}
    t0 = time.monotonic()
    result = cli("train-reference", "--app", "carsensor", "--out", out, "--epochs", "1")
    named_error(result, "carsensor", "--force")
    assert time.monotonic() - t0 < 60  # refused before any training
    assert {p.name: p.read_bytes() for p in (out / "carsensor").iterdir()} == before


def test_staged_replace_keeps_old_set_until_the_end(tmp_path):
    """Ctrl-C during training left new model files beside the old metrics: staging fixes it."""
    from tinyml_utils.core.files import replace_staged

    target = tmp_path / "models" / "app"
    target.mkdir(parents=True)
    (target / "metrics.json").write_text("old")
    (target / "model_int8.tflite").write_text("old")
    staging = tmp_path / "models" / ".staging_app"
    staging.mkdir()
    (staging / "metrics.json").write_text("new")
    (staging / "model_int8.tflite").write_text("new")
    replace_staged(staging, target)
    assert {p.name: p.read_text() for p in target.iterdir()} == {
        "metrics.json": "new",
        "model_int8.tflite": "new",
    }
    assert not staging.exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["app"]


@pytest.mark.slow
def test_train_reference_records_epochs_and_data(tmp_path):
    """Finding 2: with --epochs 1, RESULTS.md said "1 epochs" as if it were the recipe."""
    out = tmp_path / "models"
    result = tinyml(
        "train-reference",
        "--app",
        "carsensor",
        "--out",
        out,
        "--epochs",
        "1",
        "--quiet",
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "carsensor" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["epochs_max"] == 1
    assert metrics["epochs_recipe"] > 1
    text = (out / "RESULTS.md").read_text()
    assert "1 epoch (--epochs 1; the recipe trains up to" in text
    assert not list(out.glob(".staging*"))


def test_export_sketch_keeps_a_hand_edited_ino(tmp_path):
    """Finding 2: `export --sketch` overwrote a hand-edited .ino."""
    args = ("export", CARSENSOR, "--name", "carsensor", "--out", tmp_path, "--sketch", "--no-arena")
    assert cli(*args).returncode == 0
    ino = tmp_path / "carsensor" / "carsensor.ino"
    ino.write_text(ino.read_text() + "\n// my change\n")
    named_error(cli(*args), "carsensor.ino", "--force")
    assert ino.read_text().endswith("// my change\n")
    result = cli(*args, "--force")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "// my change" not in ino.read_text()


# --------------------------------------------------------------------------- finding 4


def test_benchmark_writes_xlsx_for_control_characters_in_names(tmp_path):
    """Finding 4: a control character in a tensor name crashed the XLSX writer."""
    data = bytearray(CARSENSOR.read_bytes())
    at = data.find(b"serving_default_x:0")
    data[at + 3] = 0x01
    model = tmp_path / "ctrl.tflite"
    model.write_bytes(bytes(data))
    out = tmp_path / "b"
    result = cli("benchmark", model, "--no-plots", "--no-arena", "--runs", "2", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    import openpyxl

    book = openpyxl.load_workbook(out / "benchmark.xlsx")
    assert "comparison" in book.sheetnames
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


# --------------------------------------------------------------------------- finding 5


@pytest.mark.slow
def test_two_benchmarks_into_one_folder_do_not_mix(tmp_path):
    """Finding 5: two runs with the same --out both said "wrote 12 files"; one was lost."""
    out = tmp_path / "same"
    env = dict(os.environ, PYTHONPATH=str(repo_root()), TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [
        sys.executable,
        "-m",
        "tinyml_utils.cli",
        "benchmark",
        str(CARSENSOR),
        "--no-plots",
        "--runs",
        "3000",
        "--out",
        str(out),
    ]
    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 120
    while not (out / LOCK_NAME).exists():  # the first run holds the folder
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    named_error(second, str(out), "being written by tinyml benchmark")
    assert first.wait(timeout=600) == 0, first.communicate()
    assert (out / "benchmark.xlsx").is_file() and not (out / LOCK_NAME).exists()


def test_output_lock_refuses_a_writer_in_another_process(tmp_path):
    code = (
        "from tinyml_utils.core.files import OutputLock\n"
        f"with OutputLock({str(tmp_path)!r}, 'run B'):\n    pass\n"
    )
    env = dict(os.environ, PYTHONPATH=str(repo_root()))
    with OutputLock(tmp_path, "run A"):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert "being written by run A" in r.stderr, r.stderr
        with OutputLock(tmp_path, "run A again"):  # the same process may nest
            pass
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []  # no lock file left behind


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


# --------------------------------------------------------------------------- finding 6


@pytest.mark.parametrize("command", ["export", "benchmark", "run-notebooks"])
def test_out_pointing_at_a_file(tmp_path, command):
    f = tmp_path / "a_file"
    f.write_text("x")
    args = {
        "export": ["export", CARSENSOR, "--no-arena"],
        "benchmark": ["benchmark", CARSENSOR, "--no-plots", "--no-arena", "--no-latency"],
        "run-notebooks": ["run-notebooks", "--only", "00"],
    }[command]
    named_error(cli(*args, "--out", f), "a_file", "not a folder")
    assert f.read_text() == "x"


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("EPOCHS = 3\nQUICK = True\nOUTPUT_DIR = '.'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *[nbformat.v4.new_code_cell(c) for c in cells]]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_kernel_death_under_keep_going_still_writes_summary(tmp_path):
    from tinyml_utils.notebook.runner import NotebookFailed, run_notebooks

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "90_dies.ipynb", ["import os\nos._exit(1)"])
    _notebook(nbs / "91_fine.ipynb", ["x = 1"])
    with pytest.raises(NotebookFailed, match="kernel died"):
        run_notebooks(None, True, tmp_path / "out", {}, keep_going=True, directory=nbs)
    summary = (tmp_path / "out" / "SUMMARY.md").read_text()
    assert "90_dies.ipynb | FAILED" in summary and "kernel died" in summary
    assert "91_fine.ipynb | ok" in summary


def test_param_of_the_wrong_type_names_the_parameter():
    result = cli("run-notebooks", "--only", "01", "--param", "EPOCHS=abc")
    named_error(result, "EPOCHS", "abc", "int")


def test_export_name_cannot_break_the_c_files(tmp_path, require_tool):
    """Finding 6: `export --name 'evil */ #error x /*'` wrote a header that does not compile."""
    require_tool("gcc")
    evil = "evil */ #error x /*"
    for mode in ([], ["--codegen"], ["--sketch"]):
        out = tmp_path / (mode[0][2:] if mode else "array")
        result = cli("export", CARSENSOR, "--name", evil, "--out", out, "--no-arena", *mode)
        assert result.returncode in (0, 2) and "Traceback" not in result.stderr, result.stderr
        if mode == ["--sketch"]:
            assert not any("*" in p.name or "#" in p.name for p in out.rglob("*"))
            continue
        assert result.returncode == 0, result.stderr
        for header in out.rglob("*.h"):
            run = subprocess.run(
                ["gcc", "-fsyntax-only", "-x", "c", str(header)], capture_output=True, text=True
            )
            assert run.returncode == 0, (header.name, run.stderr)
