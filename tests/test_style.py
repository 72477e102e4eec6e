"""ruff lint and format are part of the tests, over the package, tests, scripts and notebooks."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tinyml_utils.core.paths import repo_root


def _ruff(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("ruff") or str(__import__("pathlib").Path(sys.executable).parent / "ruff")
    return subprocess.run([exe, *args], cwd=repo_root(), capture_output=True, text=True)


def test_ruff_lint_clean():
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_clean():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout + result.stderr
