"""Run a helper module of this package in a child Python process.

The interpreters' C++ code can crash (SIGSEGV) on a far-too-small arena or a corrupt file;
running it in a child keeps the notebook, the command or the test session alive.
"""

from __future__ import annotations

import os
from pathlib import Path


def child_env() -> dict[str, str]:
    """The current environment with this checkout first on PYTHONPATH (works uninstalled)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env
