"""Every notebook in notebooks/ follows the conventions and runs in quick mode.

New notebooks are picked up automatically (any ``NN_topic.ipynb``).
"""

from __future__ import annotations

import json

import pytest

from tinyml_utils.notebook.runner import execute_notebook, find_notebooks
from tinyml_utils.notebook.template import COLAB_INSTALL_CELL, REQUIRED_PARAMETERS

NOTEBOOKS = find_notebooks()


def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: run nbstripout"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_conventions(path):
    cells = _cells(path)
    assert "".join(cells[0]["source"]) == COLAB_INSTALL_CELL, (
        f"{path.name}: first cell must be the Colab install cell"
    )
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    for name in REQUIRED_PARAMETERS:
        assert f"{name} = " in source, f"{path.name}: parameters cell lacks {name}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_in_quick_mode(path, tmp_path_factory):
    from tinyml_utils.core.paths import build_dir

    out = build_dir() / "test-notebooks"
    run = execute_notebook(path, out, quick=True, progress=False)
    assert run.status == "ok"
