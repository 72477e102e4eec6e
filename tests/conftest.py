"""Shared fixtures. Real data comes from ../shared/data (or $TINYML_DATA_DIR) when present.

Outside CI, a test that needs real data or a firmware toolchain is skipped with a reason
that says what is missing. Under CI (CI=true) the same absence is a failure: CI has
../shared beside the clone and installs the toolchains, so nothing is silently skipped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tinyml_utils.core.paths import shared_data_dir

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip outside CI, fail under CI."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        missing("real data not found: put the shared data at ../shared/data or set TINYML_DATA_DIR")
    return path


def app_data_dir(app: str) -> Path:
    root = shared_data_dir()
    if root is None or not (root / app).is_dir():
        missing(f"real data for {app!r} not found under ../shared/data/{app} or $TINYML_DATA_DIR")
    return root / app


@pytest.fixture
def require_tool():
    """``require_tool("arm-none-eabi-gcc")`` skips (fails in CI) when a tool is missing."""

    def check(*names: str) -> None:
        absent = [n for n in names if shutil.which(n) is None]
        if absent:
            missing(
                f"tools not installed: {', '.join(absent)} (run scripts/install_firmware_tools.sh)"
            )

    return check
