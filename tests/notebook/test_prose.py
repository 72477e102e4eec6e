"""Prose that cannot contradict the outputs: stale figures are caught, claims are asserted.

The rule (tinyml_utils.notebook.prose): a figure that depends on the run is rendered from
the run, never typed into a markdown cell. ``stale_figures`` compares every figure typed
in the markdown of an executed notebook with the numbers the run wrote to results.json;
the notebook tests (test_exercises.py, test_notebooks.py) apply it to every executed run.
Here: it catches a planted stale figure, and lets rendered figures and unrelated numbers be.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from tinyml_utils.notebook.prose import ClaimFailed, claim, stale_figures
from tinyml_utils.notebook.runner import find_notebooks

RESULTS = {
    "int8_bytes": 10208,
    "float32_bytes": 17608,
    "int8_accuracy": 0.9101,
    "int8_arena_bytes": 6432,
    "classes": 3,
    "exercises": {"07.1": True},
}


def _notebook(tmp_path, markdown: str, rendered: str = ""):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell("say(...)")]
    if rendered:
        nb.cells[1].outputs = [
            nbformat.v4.new_output("display_data", data={"text/markdown": rendered})
        ]
    path = tmp_path / "07_planted.ipynb"
    nbformat.write(nb, path)
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    return path


def test_a_planted_stale_figure_is_caught(tmp_path):
    """Text typed from one run (10,208 vs 17,608 B, 91.0 %) goes stale: it is named."""
    path = _notebook(
        tmp_path,
        "## Take away\n\nint8 is 10,208 B against 17,608 bytes for float32, and keeps "
        "91.0 % accuracy; its arena is 6.3 KB.",
    )
    found = stale_figures(path, json.loads((tmp_path / "results.json").read_text()))
    keys = {f.key for f in found}
    assert keys == {"int8_bytes", "float32_bytes", "int8_accuracy", "int8_arena_bytes"}, found
    assert all(f.cell == 0 for f in found)
    assert "render it from the results" in str(found[0])


def test_a_rendered_figure_and_unrelated_numbers_pass(tmp_path):
    """The same figures in a displayed output are fine; small counts and constants too."""
    path = _notebook(
        tmp_path,
        "## Take away\n\nThe converter quantizes tensors of at least 1,024 elements; "
        "3 classes; `int8_bytes` is below.",
        rendered="int8 is 10,208 B against 17,608 B for float32",
    )
    assert stale_figures(path, RESULTS) == []


def test_a_changed_result_is_caught_only_where_typed(tmp_path):
    """A figure that no longer equals the result is not flagged (it is a different
    number), but the test that matters is the one above: equality means it was copied."""
    path = _notebook(tmp_path, "int8 is 10,208 B.")
    assert stale_figures(path, {**RESULTS, "int8_bytes": 10240}) == []
    assert len(stale_figures(path, RESULTS)) == 1


def test_claim_stops_with_the_measured_values():
    claim(True, "int8 is smaller")
    with pytest.raises(ClaimFailed, match="int8_bytes=10208"):
        claim(10208 > 17608, "int8 is bigger than float32", int8_bytes=10208)


#: Notebooks whose markdown follows the rule: every one.
RENDERED = ("00_", "01_", "02_", "03_", "04_", "05_", "06_", "07_", "08_", "09_", "10_", "11_")
#: Figures quoted from elsewhere (not measured by the notebook): notebook -> figures.
QUOTED = {  # the reference projects' published results
    "01_motionsense.ipynb": {"92.31 %"},
    "02_carsensor.ipynb": {"95.00 %"},
    "03_keyword_spotting.ipynb": {"98.21 %"},
    "04_music_genre.ipynb": {"88.45 %"},
}


@pytest.mark.parametrize(
    "path", [p for p in find_notebooks() if p.name.startswith(RENDERED)], ids=lambda p: p.name
)
def test_markdown_types_no_measured_byte_count(path):
    """Static half of the rule, no run needed: a byte count with a comma or a percentage
    with a decimal (what a measurement looks like) is never typed into these notebooks'
    markdown. Fixed facts (1,024 elements, 16-byte alignment) have no such unit."""
    import re

    nb = json.loads(path.read_text())
    measured = re.compile(r"\d{1,3},\d{3}\s*(?:B\b|bytes)|\d+\.\d+\s*%")
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            text = re.sub(r"`[^`]*`", "", "".join(cell["source"]))
            hits = set(measured.findall(text)) - QUOTED.get(path.name, set())
            assert not hits, f"{path.name} markdown cell {i} types measured figures {hits}"
