"""Colab gets the versions CI tests, and every notebook has its "Open in Colab" badge."""

from __future__ import annotations

import re
import tomllib

from tinyml_utils.core.paths import repo_root
from tinyml_utils.notebook.runner import find_notebooks
from tinyml_utils.notebook.template import COLAB_INSTALL_CELL, colab_badge

ROOT = repo_root()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            pins[name.strip().lower()] = version.strip() if sep else ""
    return pins


def test_colab_requirements_are_pinned_to_what_ci_tests():
    colab = _pins((ROOT / "requirements-colab.txt").read_text().splitlines())
    tested = _pins((ROOT / "requirements.lock").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    tested.update(_pins(project))
    assert "netron" in colab, "netron (notebook 09/10's viewer) must be installed in Colab"
    unpinned = [name for name, version in colab.items() if not version]
    assert not unpinned, f"pin these in requirements-colab.txt: {unpinned}"
    differ = {n: (v, tested.get(n)) for n, v in colab.items() if tested.get(n) != v}
    assert not differ, f"Colab pins differ from the tested versions: {differ}"


def test_colab_install_cell_matches_tf_keras_to_colabs_tensorflow():
    assert "tf-keras~=" in COLAB_INSTALL_CELL
    assert "Could not clone" in COLAB_INSTALL_CELL  # says what to do when the clone fails


def test_readme_has_an_open_in_colab_badge_per_notebook():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in find_notebooks() if colab_badge(p.name) not in readme]
    assert not missing, f"README lacks the Colab badge of {missing}"
    assert re.search(r"colab\.research\.google\.com/github/", readme)
