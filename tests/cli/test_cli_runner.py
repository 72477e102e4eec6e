"""The `tinyml` command and the notebook runner (on small notebooks made here)."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from tinyml_utils import cli
from tinyml_utils.core.report import save_results
from tinyml_utils.notebook.runner import NotebookFailed, execute_notebook, find_notebooks
from tinyml_utils.notebook.template import COLAB_INSTALL_CELL, new_notebook, parameters_source


def test_help_lists_every_command():
    result = subprocess.run(
        [sys.executable, "-m", "tinyml_utils.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for name in cli.COMMANDS:
        assert name in result.stdout


def test_every_command_module_exists_and_has_the_interface():
    for name in cli.COMMANDS:
        module = cli.command_module(name)
        assert module.HELP and callable(module.add_arguments), name
        assert callable(module.run), name


def test_unknown_notebook_number_is_an_error():
    assert cli.main(["run-notebooks", "--only", "99"]) == 2


def _write(tmp_path, name, cells, parameters=None):
    nb = new_notebook("# test", cells, parameters)
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_runner_passes_parameters_and_collects_results(tmp_path):
    path = _write(
        tmp_path,
        "00_ok.ipynb",
        [
            (
                "code",
                "from tinyml_utils.core.report import save_results\nsave_results(OUTPUT_DIR, quick=QUICK, n=7)",
            )
        ],
    )
    run = execute_notebook(path, tmp_path / "out", quick=True, progress=False)
    assert run.status == "ok"
    assert run.results == {"quick": True, "n": 7}
    executed = json.loads((tmp_path / "out" / "00_ok.ipynb").read_text())
    assert any("QUICK = True" in "".join(c["source"]) for c in executed["cells"])


def test_runner_names_the_failing_cell(tmp_path):
    path = _write(
        tmp_path, "01_bad.ipynb", [("code", "x = 1"), ("code", "raise ValueError('boom')")]
    )
    # cells: 1 Colab, 2 title, 3 parameters, 4 x = 1, 5 raise (papermill's own cells not counted)
    expected = r"01_bad.ipynb failed in cell 5 \(\"raise ValueError\('boom'\)\"\): ValueError: boom"
    with pytest.raises(NotebookFailed, match=expected):
        execute_notebook(path, tmp_path / "out", quick=True, progress=False)


def test_find_notebooks_orders_and_filters(tmp_path):
    for name in ("02_b.ipynb", "00_a.ipynb", "notes.ipynb"):
        _write(tmp_path, name, [])
    assert [p.name for p in find_notebooks(directory=tmp_path)] == ["00_a.ipynb", "02_b.ipynb"]
    assert [p.name for p in find_notebooks(["2"], directory=tmp_path)] == ["02_b.ipynb"]


def test_template_cells():
    nb = new_notebook("# t", [("markdown", "hi")], {"EPOCHS": 3})
    assert nb.cells[0].source == COLAB_INSTALL_CELL
    assert nb.cells[2].metadata["tags"] == ["parameters"]
    assert "EPOCHS = 3" in nb.cells[2].source
    assert 'DATA_SOURCE = "auto"' in parameters_source()


def test_colab_cell_does_nothing_outside_colab():
    namespace: dict = {}
    exec(COLAB_INSTALL_CELL, namespace)  # noqa: S102 - the cell is ours
    assert "HOME" not in namespace


def test_save_results_merges(tmp_path):
    save_results(tmp_path, a=1)
    save_results(tmp_path, b=2.5)
    assert json.loads((tmp_path / "results.json").read_text()) == {"a": 1, "b": 2.5}
