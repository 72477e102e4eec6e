"""TMD (Transportation Mode Detection) raw recordings: the real CarSensor data.

C. Carpineti, V. Lomonaco, L. Bedogni, M. Di Felice, L. Bononi, "Custom Dual Transportation
Mode Detection by Smartphone Devices Exploiting Sensor Diversity", PerCom Workshops 2018
(doi 10.1109/PERCOMW.2018.8480119). MIT License (c) 2017 Vincenzo Lomonaco. Volunteers
carried Android phones in a car, bus or train, standing still, or walking.

One file = one recording of one user in one mode:
``sensorfile_<user>_<Mode>_<start ms>.csv`` (or ``.csv.gz``), no header, one row per sensor
event: ``<ms since start>,<android sensor type>,<value 1>,<value 2>,...``. Every sensor is
mixed in the one file, in time order, and **sampling is event driven**: the gap between two
accelerometer rows is 50-500 ms depending on the phone (about 2-20 Hz).

What :func:`read_folder` returns: per recording, the accelerometer (x, y, z in m/s^2,
gravity included) **resampled to a fixed rate** by sample-and-hold (at every tick, the
latest reading: what a device that polls its sensor at that rate would see; it keeps the
spread of the values whatever the phone's own rate, where averaging would shrink it on
fast phones only). Labels: 1 = in a vehicle (Car, Bus, Train), 0 = not (Still, Walking);
groups = users. Windows are cut later (``apps.carsensor``), never across recordings.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data.datasets.base import Dataset, local_source
from tinyml_utils.data.datasets.download import Remote, download_dataset

MODES = {"Car": 1, "Bus": 1, "Train": 1, "Still": 0, "Walking": 0}
CLASS_NAMES = ["not_in_vehicle", "in_vehicle"]
ACCELEROMETER = "android.sensor.accelerometer"
FILE_PATTERN = re.compile(
    r"^sensorfile_(?P<user>.+)_(?P<mode>Car|Bus|Train|Still|Walking)_(?P<start>\d+)\.csv(?:\.gz)?$"
)
DEFAULT_RATE = 5.0  # Hz: see notebook 02 (variance features do not depend on it)

_FILES = json.loads(Path(__file__).with_name("tmd_files.json").read_text(encoding="utf-8"))
REPOSITORY = _FILES["repository"]
COMMIT = _FILES["commit"]
RAW_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/{_FILES['folder']}/"
#: The project's page names this archive of every raw file (its inner layout is not verified
#: here; the reader finds ``sensorfile_*.csv`` files anywhere below the folder).
ARCHIVE_URL = "http://cs.unibo.it/projects/us-tm2017/static/dataset/raw_data/raw_data.tar.gz"
PAGE_URL = "http://cs.unibo.it/projects/us-tm2017/"
VARIANTS = ("github", "archive")

DESCRIPTION = f"""\
TMD raw recordings (Carpineti et al., PerCom Workshops 2018; MIT License): Android phones
in a car, bus or train (in a vehicle) or still or walking (not), one CSV per recording with
every sensor mixed and event-driven sampling (about 2-20 Hz). The accelerometer is resampled
to a fixed rate; groups are users, so a split by group keeps every user on one side.
Download: {len(_FILES["files"])} files from github.com/{REPOSITORY} at commit {COMMIT[:10]}
(the files were removed in later commits), or the project's archive ({ARCHIVE_URL})."""


def remotes(variant: str = "github") -> list[Remote]:
    """What ``download`` fetches: the raw CSVs of the GitHub commit, or the project's archive."""
    if variant == "github":
        return [Remote(RAW_URL + name, name, extract=False) for name in _FILES["files"]]
    if variant == "archive":
        return [Remote(ARCHIVE_URL, "tmd_raw_data.tar.gz")]
    raise DataError(f"TMD variant must be one of {VARIANTS}, got {variant!r}.")


def known_sha256(variant: str = "github") -> dict[str, str]:
    """URL -> SHA-256 of the original files measured here (the rest are recorded on first use)."""
    if variant != "github":
        return {}
    return {RAW_URL + n: f["sha256"] for n, f in _FILES["files"].items() if f}


def download(dest: str | os.PathLike, variant: str = "github", progress: bool = True) -> Path:
    """Fetch the recordings into ``dest`` (resumable per file, SHA-256 checked)."""
    return download_dataset(remotes(variant), dest, sha256=known_sha256(variant), progress=progress)


def parse_name(path: Path) -> tuple[str, str, int] | None:
    """(user, mode, start ms) of a TMD file name, or None for any other file."""
    m = FILE_PATTERN.match(path.name)
    return (m["user"], m["mode"], int(m["start"])) if m else None


def find_files(path: str | os.PathLike) -> list[Path]:
    """Every TMD recording below ``path`` (a file or folder), sorted; a recording present both
    as ``.csv`` and ``.csv.gz`` counts once (the ``.csv``)."""
    path = Path(path)
    if path.is_file():
        return [path] if parse_name(path) else []
    if not path.is_dir():
        return []
    found: dict[str, Path] = {}
    for f in sorted(path.rglob("sensorfile_*.csv*")):
        if parse_name(f) is None:
            continue
        stem = f.name.removesuffix(".gz")
        if stem not in found or f.suffix == ".csv":
            found[stem] = f
    return [found[k] for k in sorted(found)]


def read_sensor(path: Path, sensor: str = ACCELEROMETER) -> tuple[np.ndarray, int]:
    """(rows (n, 4): time in s, x, y, z) of one sensor in one recording, sorted by time, and
    the number of malformed rows skipped (the raw files hold a few, e.g. a time of "r2")."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows, bad = [], 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\r\n").split(",")
                if len(parts) < 5 or parts[1] != sensor:
                    continue
                try:
                    rows.append(
                        (float(parts[0]), float(parts[2]), float(parts[3]), float(parts[4]))
                    )
                except ValueError:
                    bad += 1
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc}). Fix: download the file again.") from exc
    a = np.array(rows, dtype=np.float64).reshape(-1, 4)
    a = a[np.isfinite(a).all(axis=1)]
    a = a[np.argsort(a[:, 0], kind="stable")]
    a[:, 0] /= 1000.0
    return a, bad


def resample_hold(rows: np.ndarray, rate: float) -> np.ndarray:
    """Sample-and-hold at ``rate`` Hz: at each tick t0, t0 + 1/rate, ... the latest reading.
    ``rows``: (n, 1 + channels), time in seconds first, sorted. Returns (T, channels) float32."""
    if len(rows) < 2:
        return np.zeros((0, rows.shape[1] - 1), np.float32)
    t = rows[:, 0]
    ticks = np.arange(t[0], t[-1], 1.0 / rate)
    idx = np.searchsorted(t, ticks, side="right") - 1
    return rows[idx, 1:].astype(np.float32)


_CACHE: dict[tuple, Dataset] = {}


def read_folder(
    path: str | os.PathLike, rate: float = DEFAULT_RATE, progress: bool = True
) -> Dataset:
    """Every recording below ``path``, accelerometer resampled to ``rate`` Hz (module doc).
    Parsed once per process: a second call with the same files and rate reuses the result."""
    if not rate > 0:
        raise DataError(f"rate must be a positive number of Hz, got {rate!r}.")
    files = find_files(path)
    if not files:
        raise DatasetNotFoundError(
            f"no TMD recordings (sensorfile_<user>_<Mode>_<ms>.csv or .csv.gz) in {path}."
        )
    key = (float(rate), tuple((str(f.resolve()), f.stat().st_mtime_ns) for f in files))
    if key not in _CACHE:
        _CACHE.clear()  # keep one dataset in memory
        _CACHE[key] = _read_files(files, Path(path), float(rate), progress)
    ds = _CACHE[key]
    return replace(ds, x=list(ds.x), meta=dict(ds.meta))


def _read_files(files: list[Path], path: Path, rate: float, progress: bool) -> Dataset:
    from tinyml_utils.core.progress import tqdm

    xs, ys, users, names, modes, native, skipped = [], [], [], [], [], [], 0
    for f in tqdm(files, desc="TMD recordings", disable=not progress):
        user, mode, _ = parse_name(f)
        rows, bad = read_sensor(f)
        skipped += bad
        x = resample_hold(rows, rate)
        if len(x) == 0:
            continue
        xs.append(x)
        ys.append(MODES[mode])
        users.append(user)
        names.append(f.name.removesuffix(".gz"))
        modes.append(mode)
        native.append(float(1.0 / np.median(np.diff(rows[:, 0]))) if len(rows) > 2 else 0.0)
    if not xs:
        raise DataError(f"{path}: no recording holds accelerometer rows ({ACCELEROMETER}).")
    return Dataset(
        name="carsensor",
        x=xs,
        y=np.array(ys),
        groups=np.array(users),
        class_names=list(CLASS_NAMES),
        source=local_source(path),
        description=DESCRIPTION,
        sample_rate=float(rate),
        meta={
            "format": "tmd",
            "group_name": "user",
            "group_rule": "users (one user's recordings all go to one side of a split)",
            "per_example": ["recording", "mode", "native_rate"],
            "recording": np.array(names),
            "mode": np.array(modes),
            "native_rate": np.array(native),
            "skipped_rows": skipped,
        },
    )
