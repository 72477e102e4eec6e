"""Downloading a dataset: fetch with a progress bar, verify its SHA-256, extract.

How the checksum check works:

- Known hashes ship with the package in ``tinyml_utils/datasets/checksums.json`` (keyed by
  URL). A download whose SHA-256 differs is deleted and reported.
- For a URL with no known hash, the first download's hash is **recorded** in
  ``<cache_dir>/checksums.json`` ("trust on first use"), and every later download of that URL
  is verified against the record. If the file really changed upstream, delete its line from
  that file and download again.

Files go to ``<cache_dir>/downloads/`` (``tinyml_utils.core.paths.cache_dir()``, i.e.
``$TINYML_CACHE_DIR`` or ``~/.cache/tinyml_workbook``). A file already there that matches its
hash is not fetched again. Any URL that ``urllib`` opens works, including ``file://`` URLs,
which is how the tests exercise this offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.core.paths import cache_dir

KNOWN_CHECKSUMS_FILE = Path(__file__).with_name("checksums.json")
COMPLETE_MARKER = ".download_complete"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """One file of a dataset's public home."""

    url: str
    filename: str  #: the name it gets in the download cache
    extract: bool = True  #: unpack it (zip / tar) into the dataset folder, else copy it there


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_checksums_file() -> Path:
    """Where hashes of URLs without a known hash are recorded on first download."""
    return cache_dir() / "checksums.json"


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"checksum file {path} is not valid JSON ({exc}). Fix: repair or delete it."
        ) from exc


def expected_sha256(url: str) -> tuple[str | None, str]:
    """(hash, where it came from) for a URL: "known", "recorded", or (None, "none")."""
    known = _read_json(KNOWN_CHECKSUMS_FILE).get(url)
    if isinstance(known, dict) and known.get("sha256"):
        return known["sha256"], "known"
    recorded = _read_json(recorded_checksums_file()).get(url)
    if isinstance(recorded, dict) and recorded.get("sha256"):
        return recorded["sha256"], "recorded"
    return None, "none"


def record_sha256(url: str, digest: str, size: int) -> None:
    path = recorded_checksums_file()
    table = _read_json(path)
    table[url] = {"sha256": digest, "size": size}
    path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def fetch(
    remote: Remote,
    downloads_dir: str | os.PathLike | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Download ``remote`` into ``downloads_dir`` (default ``<cache_dir>/downloads``).

    The file is verified against ``sha256`` if given, else the known or recorded hash of its
    URL; with no hash at all, its hash is recorded for next time. Returns the file's path.
    Raises DataError on a checksum mismatch (the bad file is deleted) and
    DatasetNotFoundError when the URL cannot be fetched.
    """
    from tinyml_utils.core.progress import tqdm

    folder = Path(downloads_dir) if downloads_dir is not None else cache_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / remote.filename
    want, origin = (sha256, "given") if sha256 else expected_sha256(remote.url)

    if target.exists() and want is not None and sha256_of(target) == want:
        return target  # already downloaded and intact

    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(remote.url, timeout=60) as response, open(partial, "wb") as out:
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=remote.filename,
                disable=not progress,
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise DatasetNotFoundError(
            f"could not download {remote.url} ({exc}). Fix: check your internet connection "
            f"and the URL, or download the file yourself and load it with "
            f"source='local', data_dir=<folder>."
        ) from exc

    got = digest.hexdigest()
    if want is not None and got != want:
        partial.unlink(missing_ok=True)
        hint = (
            f"If the file really changed upstream, delete its entry in "
            f"{recorded_checksums_file()} and download again."
            if origin == "recorded"
            else "Download again; if it keeps failing, the file changed upstream."
        )
        raise DataError(
            f"SHA-256 mismatch for {remote.url}: expected {want} ({origin}), got {got}. "
            f"The download is corrupt or not the expected file, so it was deleted. {hint}"
        )
    partial.replace(target)
    if want is None:
        record_sha256(remote.url, got, target.stat().st_size)
        print(f"recorded SHA-256 of {remote.filename} ({got}) in {recorded_checksums_file()}")
    return target


def _inside(root: Path, member: str) -> bool:
    return (root / member).resolve().is_relative_to(root.resolve())


def extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack a .zip, .tar, .tar.gz or .tgz file into ``dest``; refuses unsafe member paths."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if not n.startswith("__MACOSX")]
                bad = [n for n in names if not _inside(dest, n)]
                if bad:
                    raise DataError(
                        f"{archive.name}: unsafe paths in the zip ({bad[0]}); not extracted"
                    )
                zf.extractall(dest, members=names)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
        else:
            raise DataError(
                f"{archive} is neither a zip nor a tar archive. Fix: delete it and download again."
            )
    except DataError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{archive}: a corrupt or truncated archive ({type(exc).__name__}: {exc}); what was "
            "extracted is incomplete. Fix: delete the file and download again."
        ) from exc
    return dest


def download_dataset(
    remotes: Sequence[Remote],
    dest: str | os.PathLike,
    sha256: dict[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Fetch every remote, verify it, and extract (or copy) it into ``dest``.

    ``sha256`` optionally maps URL -> expected hash (overrides the known/recorded ones).
    A marker file in ``dest`` records a complete download, so a half-extracted folder is
    redone next time.
    """
    dest = Path(dest)
    marker = dest / COMPLETE_MARKER
    if marker.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for remote in remotes:
        path = fetch(remote, sha256=(sha256 or {}).get(remote.url), progress=progress)
        if remote.extract:
            extract(path, dest)
        else:
            shutil.copyfile(path, dest / remote.filename)
    marker.write_text("\n".join(r.url for r in remotes) + "\n", encoding="utf-8")
    return dest
