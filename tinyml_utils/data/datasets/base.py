"""The `Dataset` container and the rules for finding a dataset's files.

Every loader in this package returns the same small dataclass, so the rest of the workbook
never needs to know where the data came from. Where it came from is still recorded in
``Dataset.source``:

- ``"synthetic"``: made up by a deterministic generator (quick mode, tests, offline Colab);
- ``"local:<path>"``: read from a folder or file on disk;
- ``"download:<url>"``: fetched from the dataset's public home into the download cache.

Finding the files (``source="auto"``) tries, in order: the ``data_dir`` you pass, then
``$TINYML_DATA_DIR/<folder>`` (or the shared data beside the checkout), then the download
cache. If none holds the dataset, it raises :class:`DatasetNotFoundError` with the folder
layout to create and the download command.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.core.paths import DATA_DIR_ENV, cache_dir, portable_source, shared_data_dir

SOURCES = ("auto", "synthetic", "local", "download")


@dataclass
class Dataset:
    """Examples, labels and the group of each example, plus where they came from.

    Attributes:
        name: dataset name ("motionsense", "carsensor", "speech_commands", "gtzan").
        x: the examples: a float32 array whose first axis is the example, or (MotionSense)
            a list of float32 arrays of different lengths, one per recording.
        y: int64 class index of each example, into ``class_names``.
        groups: the split key of each example (subject, speaker, track or recording).
            Examples that share a group must stay on the same side of a split.
        class_names: the name of each class index.
        source: "synthetic", "local:<path>" or "download:<url>".
        description: one paragraph on what the data is.
        sample_rate: samples per second of x (Hz), or None for tabular features.
        meta: anything else. ``meta["per_example"]`` lists the meta keys that hold one value
            per example; ``subset`` slices those together with x, y and groups.
    """

    name: str
    x: Any
    y: np.ndarray
    groups: np.ndarray
    class_names: list[str]
    source: str
    description: str = ""
    sample_rate: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.int64)
        self.groups = np.asarray(self.groups)
        n = len(self.x)
        if len(self.y) != n or len(self.groups) != n:
            raise DataError(
                f"{self.name}: x has {n} examples but y has {len(self.y)} and groups "
                f"{len(self.groups)}; they must have one entry per example"
            )
        if n and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
            raise DataError(
                f"{self.name}: labels must be in 0..{len(self.class_names) - 1} "
                f"(one per class name), got {self.y.min()}..{self.y.max()}"
            )
        where = self.source.split(":", 1)[1] if ":" in self.source else self.name
        check_finite(self.x, f"{self.name} data from {where}", self.groups)

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        shape = self.x.shape if isinstance(self.x, np.ndarray) else f"list of {len(self.x)}"
        return (
            f"Dataset({self.name!r}, x={shape}, classes={self.class_names}, "
            f"groups={len(np.unique(self.groups))}, source={portable_source(self.source)!r})"
        )

    def subset(self, idx: Sequence[int] | np.ndarray) -> Dataset:
        """A new Dataset holding only the examples at ``idx`` (indices or a boolean mask)."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        if isinstance(self.x, np.ndarray):
            x = self.x[idx]
        else:
            x = [self.x[i] for i in idx]
        meta = dict(self.meta)
        for key in self.meta.get("per_example", ()):
            value = self.meta[key]
            meta[key] = (
                np.asarray(value)[idx] if isinstance(value, np.ndarray) else [value[i] for i in idx]
            )
        return replace(self, x=x, y=self.y[idx], groups=self.groups[idx], meta=meta)

    def counts(self) -> dict[str, int]:
        """Number of examples per class name."""
        bins = np.bincount(self.y, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, bins, strict=True)}


# ---------------------------------------------------------------------------------------
# Finding a dataset's files
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """Where a dataset lives and how to tell the user to get it."""

    name: str  #: dataset name, e.g. "speech_commands"
    folder: str  #: folder name under $TINYML_DATA_DIR, e.g. "keyword_spotting"
    layout: str  #: the expected folder layout, shown in errors
    get_it: str  #: how to obtain the files (download command or Kaggle steps)


def data_root_candidates(loc: Location) -> list[Path]:
    """$TINYML_DATA_DIR/<folder> (or ../shared/data/<folder>), whether or not it exists."""
    root = shared_data_dir()
    return [] if root is None else [root / loc.folder]


def download_cache_folder(loc: Location) -> Path:
    """Where ``source="download"`` extracts this dataset: <cache_dir>/<folder>."""
    return cache_dir() / loc.folder


def not_found_message(loc: Location, looked: Sequence[Path] = ()) -> str:
    where = "; ".join(str(p) for p in looked) if looked else "nowhere (no data_dir given)"
    return (
        f"dataset {loc.name!r} not found (looked in: {where}). Fix: pass data_dir=<folder> "
        f"(or DATA_DIR in the notebook), or set ${DATA_DIR_ENV} so that "
        f"${DATA_DIR_ENV}/{loc.folder} exists, with this layout: {loc.layout}. "
        f"To get the files: {loc.get_it}. Offline? use source='synthetic'."
    )


def resolve_path(
    loc: Location,
    source: str,
    data_dir: str | os.PathLike | None,
    looks_right: Callable[[Path], bool],
) -> Path:
    """The folder (or file) to read for ``source`` "auto" or "local".

    ``data_dir`` may be the dataset's own folder or a data root that holds ``<folder>``.
    """
    if source not in ("auto", "local"):
        raise ValueError(f"resolve_path handles 'auto' and 'local', not {source!r}")
    looked: list[Path] = []
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.exists():
            raise DatasetNotFoundError(
                f"data_dir {str(path)!r} does not exist. Fix: check the path, or put the "
                f"{loc.name} files there with this layout: {loc.layout}. "
                f"To get the files: {loc.get_it}."
            )
        if not looks_right(path) and (path / loc.folder).exists():
            return path / loc.folder
        return path
    for candidate in data_root_candidates(loc):
        if candidate.exists() and looks_right(candidate):
            return candidate
        looked.append(candidate)
    if source == "auto":
        cached = download_cache_folder(loc)
        if cached.exists() and looks_right(cached):
            return cached
        looked.append(cached)
    raise DatasetNotFoundError(not_found_message(loc, looked))


def check_source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return source


def local_source(path: Path) -> str:
    return f"local:{path}"


# ---------------------------------------------------------------------------------------
# Reading files with errors that name the file and the line
# ---------------------------------------------------------------------------------------


def read_text(path: str | os.PathLike) -> str:
    """A text file, or a .gz of one, whole; corrupt/truncated archives name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: a corrupt or truncated gzip file ({exc}). Fix: replace it with the "
                "original file (or download the dataset again)."
            ) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not a UTF-8 text file (byte {exc.start}). Fix: replace it with the "
            "original file."
        ) from exc


def read_csv_checked(
    path: str | os.PathLike,
    columns: Sequence[str] = (),
    numeric: Sequence[str] = (),
    index_col: int | None = None,
) -> pd.DataFrame:
    """A CSV (or .csv.gz) checked row by row; every problem names the file and the line.

    Checks: the archive decompresses; the file parses; the header has ``columns``; no row
    is shorter than the header (a file cut mid-line); ``numeric`` columns, where present,
    hold finite numbers (no NaN, inf, empty or text cells).
    """
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty. Fix: replace it with the original file.")
    try:
        frame = pd.read_csv(io.StringIO(text), index_col=index_col, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(
            f"{path}: cannot be read as CSV ({exc}). Fix: replace it with the original file."
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing columns {missing} (found {list(frame.columns)[:20]}). Fix: "
            "replace the file with the original, or add the columns."
        )
    n_fields = len(frame.columns) + (1 if index_col is not None else 0)
    lines = text.splitlines()
    for col in numeric:
        if col not in frame.columns:  # optional: ``columns`` lists the required ones
            continue
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            line = lines[row + 1] if row + 1 < len(lines) else ""
            fields = line.count(",") + 1
            if fields < n_fields:
                cut = row + 2 == len(lines) and not text.endswith("\n")
                raise DataError(
                    f"{path}, line {row + 2}: {fields} of {n_fields} fields"
                    + (" (the file ends mid-line: it was cut short)" if cut else "")
                    + ". Fix: replace the file with the original, or remove the line."
                )
            value = frame[col].iloc[row]
            shown = repr(value) if isinstance(value, str) else str(value)
            raise DataError(
                f"{path}, line {row + 2}: column {col!r} holds {shown}, not a "
                f"finite number ({int(bad.sum())} such value(s) in the column). Fix: replace "
                "the file with the original, or remove the rows."
            )
    if not text.endswith("\n"):
        warnings.warn(
            f"{path} does not end with a line break: if it was cut short, its last row "
            f"(line {len(lines)}) may be incomplete.",
            stacklevel=2,
        )
    return frame


def check_finite(x: Any, where: str, groups: Sequence[Any] | None = None) -> None:
    """Refuse NaN / inf in an array (or a list of arrays, one per recording)."""
    items = [x] if isinstance(x, np.ndarray) else list(x)
    for k, item in enumerate(items):
        a = np.asarray(item)
        if not np.issubdtype(a.dtype, np.floating):
            continue
        finite = np.isfinite(a)
        if finite.all():
            continue
        first = np.argwhere(~finite)[0]
        example = int(first[0]) if isinstance(x, np.ndarray) else k
        group = f" (group {groups[example]!s})" if groups is not None and len(groups) else ""
        raise DataError(
            f"{where}: example {example}{group} holds {a[tuple(first)]} ({int((~finite).sum())} "
            "non-finite value(s)). Fix: repair or remove that example in the data files."
        )


def warn_clip_lengths(lengths: Sequence[int], expected: int, sample_rate: float, where: str):
    """One warning with counts when clips are padded or trimmed to ``expected`` samples."""
    lengths = np.asarray(lengths)
    short, long = int((lengths < expected).sum()), int((lengths > expected).sum())
    if short or long:
        seconds = expected / sample_rate
        parts = []
        if short:
            parts.append(
                f"{short} clip(s) shorter than {seconds:g} s (shortest "
                f"{lengths.min() / sample_rate:.2f} s) were padded with silence"
            )
        if long:
            parts.append(
                f"{long} clip(s) longer than {seconds:g} s (longest "
                f"{lengths.max() / sample_rate:.2f} s) were trimmed"
            )
        warnings.warn(f"{where}: " + "; ".join(parts) + ".", stacklevel=2)
    return short, long
