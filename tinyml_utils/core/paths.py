"""Where things live: the repository, build outputs, caches and the real data."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent

DATA_DIR_ENV = "TINYML_DATA_DIR"
CACHE_DIR_ENV = "TINYML_CACHE_DIR"


def repo_root() -> Path:
    """The repository checkout (the folder that holds notebooks/ and tinyml_utils/)."""
    return REPO_ROOT


def notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"


def models_dir() -> Path:
    """Committed reference models (written by ``tinyml train-reference``)."""
    return REPO_ROOT / "models"


def build_dir() -> Path:
    """Generated outputs (executed notebooks, reports, firmware builds). Not committed."""
    path = Path(os.environ.get("TINYML_BUILD_DIR", REPO_ROOT / "build"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Download cache for datasets: $TINYML_CACHE_DIR or ~/.cache/tinyml_workbook."""
    default = Path.home() / ".cache" / "tinyml_workbook"
    path = Path(os.environ.get(CACHE_DIR_ENV, default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path | None:
    """Real data provided beside the checkout (``../shared/data``), or $TINYML_DATA_DIR.

    Returns None when neither exists. Tests and benchmark scripts use this; notebooks take
    an explicit ``DATA_DIR`` parameter instead.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    candidate = REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def portable_source(source: str) -> str:
    """A data source without one machine's absolute paths: ``local:/abs/.../shared/data/x`` ->
    ``local:../shared/data/x`` (the folder as the repository finds it), a path inside the
    checkout relative to it, ``$HOME`` as ``~``. For committed files and notebook outputs."""
    marker = "/shared/data/"
    kind, sep, path = source.partition(":")
    if not sep or kind not in ("local", "download"):
        return source
    if marker in path:
        return f"{kind}:../shared/data/" + path.split(marker, 1)[1]
    root = str(REPO_ROOT) + os.sep
    if path.startswith(root):
        return f"{kind}:{path[len(root) :]}"
    home = os.path.expanduser("~")
    if home not in ("", "/") and path.startswith(home + os.sep):
        return f"{kind}:~{path[len(home) :]}"
    return source
