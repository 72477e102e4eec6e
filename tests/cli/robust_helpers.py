"""Helpers of the issue-12 tests: run the ``tinyml`` command in a subprocess, judge it."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from pathlib import Path

from tinyml_utils.core.paths import models_dir, repo_root

MODELS = models_dir()
CARSENSOR = MODELS / "carsensor" / "model_int8.tflite"
MUSIC = MODELS / "music_genre" / "model_int8.tflite"


def tinyml(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root()), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return subprocess.run(
        [sys.executable, "-m", "tinyml_utils.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command run in this process (no start-up cost; native code still runs in the
    children the package starts), returned like :func:`tinyml`'s result."""
    from tinyml_utils.cli import main

    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
            except Exception:  # noqa: BLE001  (what `python -m tinyml_utils.cli` would print)
                traceback.print_exc(file=err)
                rc = 1
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(list(args), rc, out.getvalue(), err.getvalue())


def named_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, one ``tinyml X: error:`` line naming ``words``, no traceback."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text[-3000:]
    assert result.returncode == 2, (result.returncode, text[-3000:])
    assert "error:" in result.stderr, text[-3000:]
    for w in words:
        assert w.lower() in result.stderr.lower(), (w, result.stderr[-2000:])


def mutant(tmp_path: Path, source: Path, edit) -> Path:
    data = bytearray(source.read_bytes())
    edit(data)
    path = tmp_path / f"mutant_{source.parent.name}.tflite"
    path.write_bytes(bytes(data))
    return path


def flip_5433(d: bytearray) -> None:
    d[5433] ^= 0x80  # op 1's input: tensor 6 -> 32774 (issue 12, finding 1)
