"""Every notebook in notebooks/ follows the conventions and runs in quick mode.

New notebooks are picked up automatically (any ``NN_topic.ipynb``).
"""

from __future__ import annotations

import json

import pytest
from conftest import app_data_dir

from tinyml_utils.notebook.prose import stale_figures
from tinyml_utils.notebook.runner import execute_notebook, find_notebooks, output_problems
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


#: Application notebooks on real data (quick mode): the app, its number of classes, and the
#: margin its int8 balanced accuracy must clear above chance (1 / classes). Margins are
#: set well below what the quick runs reach so that they catch a broken pipeline (labels
#: shuffled, features of the wrong layout, a model that predicts one class), not noise.
REAL_DATA_NOTEBOOKS = {
    "01_motionsense.ipynb": ("motionsense", 3, 0.30),
    "02_carsensor.ipynb": ("carsensor", 2, 0.10),
    "03_keyword_spotting.ipynb": ("keyword_spotting", 2, 0.15),
    "04_music_genre.ipynb": ("music_genre", 10, 0.20),
}


def _run(path, out_name, **parameters):
    from tinyml_utils.core.paths import build_dir

    out = build_dir() / out_name
    run = execute_notebook(path, out, quick=True, parameters=parameters, progress=False)
    assert run.status == "ok"
    problems = output_problems(run.output)
    assert not problems, f"{path.name} outputs: " + "; ".join(problems)
    return run


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_in_quick_mode_on_synthetic_data(path):
    """Offline: every notebook runs on the synthetic stand-ins and says so in results.json.

    Notebooks with exercises run their teacher build (SOLUTIONS=True): every check must
    pass (test_exercises.py runs the student build). No figure typed in the markdown may
    equal a result of the run (tinyml_utils.notebook.prose.stale_figures)."""
    solutions = "SOLUTIONS = " in path.read_text()
    extra = {"SOLUTIONS": True} if solutions else {}
    run = _run(path, "test-notebooks-synthetic", DATA_SOURCE="synthetic", **extra)
    source = run.results.get("data_source")
    assert source in (None, "synthetic"), f"{path.name}: asked for synthetic data, got {source}"
    if path.name in REAL_DATA_NOTEBOOKS:
        assert run.results.get("accuracy_claim") is False
    if solutions:
        checks = run.results.get("exercises", {})
        assert len(checks) >= 2 and all(checks.values()), f"{path.name}: exercises {checks}"
        stale = stale_figures(run.output, run.results)
        assert not stale, f"{path.name}: " + "; ".join(map(str, stale))


@pytest.mark.notebook
@pytest.mark.real_data
@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.name in REAL_DATA_NOTEBOOKS], ids=lambda p: p.name
)
def test_app_notebook_learns_from_real_data(path):
    """The student's default path (DATA_SOURCE="auto", SOLUTIONS=False) takes the real data
    and learns; its exercises are left unanswered, so every check records a failure and the
    notebook still runs to the end (the student version, graceful)."""
    app, classes, margin = REAL_DATA_NOTEBOOKS[path.name]
    app_data_dir(app)  # skips outside CI, fails in CI, when the shared data is absent
    run = _run(path, "test-notebooks-real")
    results = run.results
    checks = results.get("exercises", {})
    assert len(checks) >= 2 and not any(checks.values()), f"{path.name}: student checks {checks}"
    assert str(results.get("data_source", "")).startswith("local:"), (
        f"{path.name}: DATA_SOURCE='auto' did not find the real data: {results.get('data_source')}"
    )
    assert results.get("accuracy_claim") is True
    chance = 1 / classes
    balanced = results["int8_balanced_accuracy"]
    assert balanced >= chance + margin, (
        f"{path.name}: int8 balanced accuracy {balanced:.3f} on real data is not above chance "
        f"({chance:.3f}) by {margin}"
    )


def test_output_problems_are_found(tmp_path):
    """The hygiene check behind every run above catches what a teacher should not see."""
    from tinyml_utils.core.paths import repo_root

    def cell(output):
        return {"cell_type": "code", "source": "", "metadata": {}, "outputs": [output]}

    widget = {
        "output_type": "display_data",
        "data": {
            "text/plain": "loading:   0%|          | 0/68 [00:00<?, ?it/s]",
            "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
        },
    }
    cells = [
        cell({"output_type": "stream", "name": "stdout", "text": "all fine: 100%|####| 3/3"}),
        cell(widget),
        cell({"output_type": "execute_result", "data": {"text/plain": "PosixPath('a.json')"}}),
        cell({"output_type": "stream", "name": "stdout", "text": f"{repo_root()}/models/x"}),
        cell({"output_type": "stream", "name": "stderr", "text": "loc(callsite(x at y))"}),
    ]
    nb = tmp_path / "planted.ipynb"
    nb.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    found = output_problems(nb)
    assert [p.split(":")[0] for p in found] == ["cell 1", "cell 2", "cell 3", "cell 4"], found
    assert "frozen widget" in found[0] and "PosixPath" in found[1]
