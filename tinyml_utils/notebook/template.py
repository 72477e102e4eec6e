"""The conventions every workbook notebook follows, in one place.

1. First cell: :data:`COLAB_INSTALL_CELL`, which installs this package when the notebook
   runs in Google Colab (guarded, safe to re-run, does nothing anywhere else).
2. Second cell: tagged ``parameters`` (papermill), defining at least
   :data:`REQUIRED_PARAMETERS`.
3. Outputs stripped in git (``nbstripout``; the tests check it).

:func:`new_notebook` builds a notebook that follows them, for authors adding a chapter.
"""

from __future__ import annotations

import json
from typing import Any

REPO_URL = "https://github.com/tinyml-workbook/tinyml-workbook"

COLAB_INSTALL_CELL = f"""\
# Colab only: fetch the workbook and install its helper package (safe to re-run).
# Anywhere else (JupyterLab, papermill, CI) this cell does nothing.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    HOME = "/content/tinyml-workbook"
    URL = "{REPO_URL}"
    if not os.path.isdir(HOME):
        clone = subprocess.run(["git", "clone", "--depth", "1", URL, HOME])
        if clone.returncode != 0:
            raise SystemExit(
                f"Could not clone {{URL}}. Check the runtime's internet access (Runtime > "
                "Disconnect and delete runtime, then run this cell again), or upload the "
                "workbook folder to /content/tinyml-workbook by hand and re-run."
            )
    import tensorflow as tf  # Colab's own; tf-keras must have the same major.minor

    tf_version = ".".join(tf.__version__.split(".")[:2])
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"tf-keras~={{tf_version}}.0"], check=True)
    subprocess.run([*pip, "-r", f"{{HOME}}/requirements-colab.txt"], check=True)
    subprocess.run([*pip, "--no-deps", "-e", HOME], check=True)
    sys.path.insert(0, HOME)
    os.chdir(f"{{HOME}}/notebooks")"""


def colab_url(notebook: str) -> str:
    """The "Open in Colab" address of ``notebooks/<notebook>`` in the published repository."""
    path = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook}"


def colab_badge(notebook: str) -> str:
    """A Markdown "Open in Colab" badge for ``notebooks/<notebook>``."""
    return (
        "[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook)})"
    )


REQUIRED_PARAMETERS = ("QUICK", "EPOCHS", "DATA_SOURCE", "DATA_DIR", "OUTPUT_DIR")

DEFAULT_PARAMETERS: dict[str, Any] = {
    "QUICK": False,
    "EPOCHS": 30,
    "DATA_SOURCE": "auto",
    "DATA_DIR": None,
    "OUTPUT_DIR": "outputs",
}

PARAMETER_COMMENTS = {
    "QUICK": "True: tiny data and few epochs (CI, a first run); False: the full run",
    "EPOCHS": "training epochs for the full run (quick mode uses fewer)",
    "DATA_SOURCE": (
        '"auto": the real data if reachable (DATA_DIR, $TINYML_DATA_DIR, ../shared/data, a '
        'download), else synthetic; or "local", "download", "synthetic"'
    ),
    "DATA_DIR": "folder with the real dataset, e.g. ../../shared/data/motionsense",
    "OUTPUT_DIR": "where this notebook saves its tables and plots",
}


def parameters_source(parameters: dict[str, Any] | None = None) -> str:
    """The text of a ``parameters`` cell: defaults first, then notebook-specific values."""
    merged = {**DEFAULT_PARAMETERS, **(parameters or {})}
    lines = ["# Parameters (papermill overrides these; edit them for your own run)."]
    for name, value in merged.items():
        comment = PARAMETER_COMMENTS.get(name)
        text = json.dumps(value) if isinstance(value, str) else repr(value)
        lines.append(f"{name} = {text}" + (f"  # {comment}" if comment else ""))
    return "\n".join(lines)


def new_notebook(
    title_markdown: str,
    cells: list[tuple[str, str]],
    parameters: dict[str, Any] | None = None,
):
    """A notebook following the conventions: ``cells`` is a list of ("markdown"|"code", src).

    Layout: Colab cell, title markdown, parameters cell, then ``cells``.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(COLAB_INSTALL_CELL, metadata={"tags": ["colab"]}))
    nb.cells.append(nbformat.v4.new_markdown_cell(title_markdown))
    nb.cells.append(
        nbformat.v4.new_code_cell(parameters_source(parameters), metadata={"tags": ["parameters"]})
    )
    for kind, source in cells:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        elif kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(source))
        else:
            raise ValueError(f"cell kind must be 'markdown' or 'code', got {kind!r}")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb
