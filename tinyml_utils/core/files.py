"""Writing output files safely: atomically, never over a person's edits, one run at a time.

- :func:`atomic_write_text` / :func:`atomic_write_bytes` / :func:`atomic_path`: write to a
  temporary file in the same folder, then ``os.replace`` it over the target, so a reader
  (or a crash, or Ctrl-C) sees the old file or the new one, never half of one.
- :func:`output_folder`: a ``--out`` that is an existing file is a clear error, not a
  traceback; the folder is created.
- :func:`refuse_overwrite`: a file a person may have edited (a sketch's ``.ino``, committed
  reference models) is replaced only with ``force=True`` (``--force``).
- :class:`OutputLock`: two runs writing into the same folder would mix their files; the
  second one stops with an error naming the first (an advisory ``flock`` on
  ``<folder>/.tinyml.lock``, removed at the end and released by the kernel if the process
  dies).
- :func:`staging_folder` / :func:`replace_staged`: a set of files (a reference model) is
  written into a hidden staging folder and swapped in at the end, so an interrupted run
  leaves the old set whole.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tinyml_utils.core.errors import DataError

LOCK_NAME = ".tinyml.lock"
_HELD: dict[Path, int] = {}  # folders this process holds a lock on -> nesting depth


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as a folder to write into (created); a clear error when it is a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(
            f"{option} {path} is an existing file, not a folder. Fix: give a folder path "
            "(it is created if needed)."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise DataError(
            f"{option} {path}: a part of the path is a file, not a folder ({exc.filename})."
        ) from exc
    except PermissionError as exc:
        raise DataError(f"{option} {path}: no permission to create it.") from exc
    return path


def refuse_overwrite(paths, force: bool, what: str = "file", hint: str = "") -> None:
    """Raise DataError naming the first existing path unless ``force``."""
    if force:
        return
    existing = [Path(p) for p in paths if Path(p).exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise DataError(
            f"{existing[0]}{more} already exists and may hold edits ({what}); it was not "
            f"overwritten. Fix: pass --force to replace it{hint}, or choose another --out."
        )


class OutputLock:
    """``with OutputLock(folder, "tinyml benchmark"):``: one writer per folder at a time."""

    def __init__(self, folder: str | os.PathLike, who: str = "tinyml"):
        self.folder = Path(folder)
        self.who = who
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.folder.resolve()
        if key in _HELD:  # this process already writes there (re-entrant)
            _HELD[key] += 1
            return self
        path = self.folder / LOCK_NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                try:
                    owner = path.read_text(errors="replace").strip()
                except OSError:
                    owner = ""
                raise DataError(
                    f"{self.folder} is being written by {owner or 'another run'}; two runs in "
                    "one folder would mix their files. Fix: wait for it to finish, or pass "
                    "another --out."
                ) from None
            try:  # the holder before us may have removed the file: lock the one in place
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.who} (pid {os.getpid()})\n".encode())
        self._fd = fd
        _HELD[key] = 1
        return self

    def __exit__(self, *exc) -> None:
        key = self.folder.resolve()
        if self._fd is None:
            if key in _HELD:
                _HELD[key] -= 1
            return
        del _HELD[key]
        (self.folder / LOCK_NAME).unlink(missing_ok=True)  # no file left behind
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


# --------------------------------------------------------------------------- staged folders


def staging_folder(final: str | os.PathLike) -> Path:
    """An empty ``<parent>/.staging_<name>_<pid>`` to fill before :func:`replace_staged`
    (staging folders left by runs that died are removed first)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for old in final.parent.glob(f".staging_{final.name}_*"):
        pid = old.name.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    staging = final.parent / f".staging_{final.name}_{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def discard_staging(final: str | os.PathLike) -> None:
    """Remove this process's staging folder for ``final`` (after an error or Ctrl-C)."""
    final = Path(final)
    shutil.rmtree(final.parent / f".staging_{final.name}_{os.getpid()}", ignore_errors=True)


def replace_staged(staging: str | os.PathLike, final: str | os.PathLike) -> None:
    """Put a finished staging folder in place of ``final``: two renames, the old set is kept
    whole until the new one is in place (and put back if the second rename fails)."""
    staging, final = Path(staging), Path(final)
    backup = final.parent / f".old_{final.name}_{os.getpid()}"
    if final.exists():
        os.replace(final, backup)
    try:
        os.replace(staging, final)
    except BaseException:
        if backup.exists() and not final.exists():
            os.replace(backup, final)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
