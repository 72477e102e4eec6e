"""CarSensor: is the phone in a vehicle? Real data: the TMD recordings; also the Kaggle file.

y is 0 = not in a vehicle, 1 = in a vehicle. Two kinds of data are accepted:

- **TMD raw recordings** (the default, public, no account: :mod:`.tmd`): one
  ``sensorfile_<user>_<Mode>_<ms>.csv`` (or ``.csv.gz``) per recording, anywhere below the
  folder. x is a list of recordings, each (T, 3) accelerometer resampled to ``rate`` Hz;
  groups are **users**. ``source="download"`` fetches them (GitHub commit named in
  :mod:`.tmd`, SHA-256 checked), ``variant="archive"`` the project's own archive.
- the Kaggle CSV ``mobile_accelerometer_car_12K.csv`` ("Mobile Accelerometer Car 12K", needs
  a Kaggle account): columns ``acc_x, acc_y, acc_z, target`` (other columns are ignored),
  one row per reading; every 100 consecutive rows are one window, labelled by its first row
  (as in the dataset's reference notebook). Generic CSVs with ``x, y, z`` and a ``label``
  (or ``target``/``class``) column work the same way. Labels may be 0/1, true/false, or text
  such as "car"/"other". Or an ``.npz`` with ``x`` (N, 100, 3), ``y`` (N,) and optionally
  ``groups`` (N,). x is then float32 (N, 100, 3).

**Groups of the Kaggle file.** It has no recording or user column, so recordings cannot be
recovered. The loader uses a column named ``recording``/``session``/``group`` when there is
one; otherwise each block of ``block_windows`` consecutive windows (default 10, i.e. 1,000
rows) is one group. Consecutive windows usually come from the same recording, so this keeps
neighbours together, but it cannot guarantee that a recording stays on one side of a split;
the file is also reported to hold about 23 % duplicate rows. Treat accuracy on it with care.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data.datasets import tmd
from tinyml_utils.data.datasets.base import (
    Dataset,
    Location,
    check_source,
    download_cache_folder,
    local_source,
    resolve_path,
)

NAME = "carsensor"
WINDOW = 100
AXES = 3
CSV_FILE = "mobile_accelerometer_car_12K.csv"
KAGGLE_DATASET = "claudiobottari/mobile-accelerometer-car-12k"
CLASS_NAMES = ["not_in_vehicle", "in_vehicle"]
AXIS_COLUMNS = (("acc_x", "x", "ax", "accel_x"), ("acc_y", "y", "ay", "accel_y"), ("acc_z", "z", "az", "accel_z"))  # fmt: skip
LABEL_COLUMNS = ("target", "label", "class", "in_vehicle")
GROUP_COLUMNS = ("recording", "session", "group", "recording_id", "session_id")
TRUE_WORDS = {"1", "true", "yes", "car", "vehicle", "in_vehicle", "in vehicle", "driving"}
FALSE_WORDS = {"0", "false", "no", "other", "not_in_vehicle", "not in vehicle", "walking"}

LOCATION = Location(
    name=NAME,
    folder="carsensor",
    layout=(
        "carsensor/**/sensorfile_<user>_<Car|Bus|Train|Still|Walking>_<ms>.csv[.gz] (TMD raw "
        f"recordings), or carsensor/{CSV_FILE} (Kaggle: columns acc_x, acc_y, acc_z, target; "
        "100 rows per window), or carsensor/<name>.npz with x (N, 100, 3), y (N,), groups"
    ),
    get_it=(
        "`tinyml data download carsensor` (the TMD recordings from GitHub, no account; "
        "source='download' in Python). The Kaggle file needs a free account: `kaggle datasets "
        f"download -d {KAGGLE_DATASET} -p <folder> --unzip`, then pass data_dir=<folder>"
    ),
)

DESCRIPTION = f"""\
{tmd.DESCRIPTION}
Alternative: Mobile Accelerometer Car 12K (Claudio Bottari, Kaggle): about 12,000 windows of 100
three-axis smartphone accelerometer readings, labelled in a vehicle (1) or not (0).
That file has no recording or user ids (groups are blocks of consecutive windows, so a split
cannot be guaranteed recording-disjoint) and many duplicate rows; Kaggle's license applies.
Get it: {LOCATION.get_it}; layout: {LOCATION.layout}."""


def class_names(**_options) -> list[str]:
    """["not_in_vehicle", "in_vehicle"]: index 1 is "in a vehicle"."""
    return list(CLASS_NAMES)


# ---------------------------------------------------------------------------------------
# Reading the real files
# ---------------------------------------------------------------------------------------


def find_file(path: Path) -> Path | None:
    """The data: ``path`` itself if it holds TMD recordings (or is one), the Kaggle CSV in
    it, or its only .csv / .npz file."""
    if tmd.find_files(path):
        return path
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    if (path / CSV_FILE).is_file():
        return path / CSV_FILE
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in (".csv", ".npz"))
    return files[0] if len(files) == 1 else None


def _binary_labels(values: pd.Series, path: Path, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        labels = values.astype(float).to_numpy()
        if not np.isin(labels, (0, 1)).all():
            raise DataError(
                f"{path}: column {column!r} must hold 0 (not in vehicle) or 1 (in vehicle), "
                f"found {sorted(np.unique(labels))[:5]}"
            )
        return labels.astype(np.int64)
    text = values.astype(str).str.strip().str.lower()
    unknown = sorted(set(text) - TRUE_WORDS - FALSE_WORDS)
    if unknown:
        raise DataError(
            f"{path}: labels {unknown[:5]} in column {column!r} are not understood. Fix: use "
            f"0/1 (1 = in vehicle) or one of {sorted(TRUE_WORDS)} / {sorted(FALSE_WORDS)}."
        )
    return text.isin(TRUE_WORDS).to_numpy().astype(np.int64)


def _block_groups(n_windows: int, block_windows: int) -> np.ndarray:
    return np.array([f"block_{i // block_windows:05d}" for i in range(n_windows)])


def read_csv(path: Path, block_windows: int = 10) -> Dataset:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({exc}). Fix: {LOCATION.layout}.") from exc
    columns = {c.lower().strip(): c for c in frame.columns}
    axes = [next((columns[a] for a in names if a in columns), None) for names in AXIS_COLUMNS]
    label = next((columns[c] for c in LABEL_COLUMNS if c in columns), None)
    missing = [n[0] for n, a in zip(AXIS_COLUMNS, axes, strict=True) if a is None]
    if label is None:
        missing.append("target (or label)")
    if missing:
        raise DataError(
            f"{path}: missing columns {missing} (found {list(frame.columns)}). Fix: the CSV needs "
            f"acc_x, acc_y, acc_z (or x, y, z) and target (or label), one row per reading."
        )
    if len(frame) < WINDOW:
        raise DataError(f"{path}: {len(frame)} rows, fewer than one window of {WINDOW}.")
    if len(frame) % WINDOW:
        raise DataError(
            f"{path}: {len(frame)} rows is not a multiple of the window length {WINDOW}; each "
            f"100 consecutive rows must be one window. Fix: use the original file."
        )
    try:
        values = frame[axes].to_numpy(dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: non-numeric accelerometer values ({exc}).") from exc
    if np.isnan(values).any():
        raise DataError(f"{path}: empty or NaN accelerometer values. Fix: use the original file.")
    labels = _binary_labels(frame[label], path, label).reshape(-1, WINDOW)
    mixed = int((labels != labels[:, :1]).any(axis=1).sum())
    if mixed:
        warnings.warn(
            f"{path}: {mixed} windows mix both labels; each is labelled by its first row",
            stacklevel=2,
        )
    group_col = next((columns[c] for c in GROUP_COLUMNS if c in columns), None)
    if group_col is not None:
        groups = frame[group_col].astype(str).to_numpy().reshape(-1, WINDOW)[:, 0]
        group_rule = f"column {group_col!r}"
    else:
        groups = _block_groups(len(labels), block_windows)
        group_rule = f"blocks of {block_windows} consecutive windows (no recording ids in file)"
    return Dataset(
        name=NAME,
        x=values.reshape(-1, WINDOW, AXES),
        y=labels[:, 0],
        groups=groups,
        class_names=class_names(),
        source=local_source(path),
        description=DESCRIPTION,
        sample_rate=None,
        meta={"group_name": "recording", "group_rule": group_rule, "mixed_windows": mixed},
    )


def read_npz(path: Path, block_windows: int = 10) -> Dataset:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc}).") from exc
    missing = [k for k in ("x", "y") if k not in data.files]
    if missing:
        raise DataError(
            f"{path}: missing arrays {missing} (found {data.files}). Fix: save it with "
            f"np.savez(path, x=<(N, 100, 3) float>, y=<(N,) 0/1>, groups=<(N,), optional>)."
        )
    x, y = np.asarray(data["x"], dtype=np.float32), np.asarray(data["y"])
    if x.ndim != 3 or x.shape[1:] != (WINDOW, AXES):
        raise DataError(f"{path}: x has shape {x.shape}, expected (N, {WINDOW}, {AXES}).")
    if not np.isin(y, (0, 1)).all() or len(y) != len(x):
        raise DataError(f"{path}: y must hold one 0/1 label per window ({len(x)}).")
    if "groups" in data.files:
        groups, rule = np.asarray(data["groups"]), "array 'groups'"
    else:
        groups = _block_groups(len(x), block_windows)
        rule = f"blocks of {block_windows} consecutive windows (no groups in file)"
    return Dataset(
        name=NAME,
        x=x,
        y=y.astype(np.int64),
        groups=groups,
        class_names=class_names(),
        source=local_source(path),
        description=DESCRIPTION,
        sample_rate=None,
        meta={"group_name": "recording", "group_rule": rule},
    )


def read_path(
    path: str | os.PathLike,
    block_windows: int = 10,
    rate: float = tmd.DEFAULT_RATE,
    progress: bool = True,
) -> Dataset:
    """TMD recordings, the Kaggle CSV or an .npz at ``path`` (see the module docstring)."""
    path = Path(path)
    found = find_file(path)
    if found is None:
        raise DatasetNotFoundError(
            f"no CarSensor data in {path} (expected TMD sensorfile_*.csv[.gz] recordings, "
            f"{CSV_FILE}, or exactly one .csv or .npz). Fix: layout {LOCATION.layout}. "
            f"{LOCATION.get_it}."
        )
    if tmd.find_files(found):
        return tmd.read_folder(found, rate=rate, progress=progress)
    if found.suffix.lower() == ".npz":
        return read_npz(found, block_windows)
    return read_csv(found, block_windows)


# ---------------------------------------------------------------------------------------
# Synthetic stand-in
# ---------------------------------------------------------------------------------------


def synthetic(seed: int = 0, n_users: int = 12, minutes: float = 2.0, rate: float = 5.0) -> Dataset:
    """A learnable stand-in shaped like the TMD recordings: ``n_users`` users, each with one
    recording per mode (Car, Bus, Train, Still, Walking) of ``minutes`` at ``rate`` Hz,
    (T, 3) in m/s^2 with gravity. Still: sensor noise only; car, bus, train: slow sway,
    vibration and stops; walking: steps at 1.6-2.2 Hz. Each user's phone has its own noise
    level and sits at its own angle. Default: 60 recordings of 600 samples (2 minutes).
    """
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * rate)
    t = np.arange(n) / rate
    xs, ys, users, names, modes = [], [], [], [], []
    for u in range(n_users):
        noise = rng.uniform(0.01, 0.04)  # this phone's sensor noise
        for mode in tmd.MODES:
            up = rng.normal(0, 1, 3)
            up /= np.linalg.norm(up)  # where gravity points in the phone's frame
            side = rng.normal(0, 1, 3)
            side -= side.dot(up) * up
            side /= np.linalg.norm(side)
            if tmd.MODES[mode]:  # sway, vibration (a train's is smaller), stops
                moving = (np.sin(2 * np.pi * t / rng.uniform(60, 120)) > -0.5).astype(float)
                sway = rng.uniform(0.3, 0.8) * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t)
                level = (0.05, 0.2) if mode == "Train" else (0.1, 0.4)
                shake = rng.normal(0, rng.uniform(*level), n)
                motion = moving[:, None] * (sway[:, None] * side + shake[:, None] * up)
            elif mode == "Walking":  # a vertical bounce at the step rate, a side sway
                f = rng.uniform(1.6, 2.2)
                step = np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
                motion = rng.uniform(2.0, 4.0) * step[:, None] * (0.9 * up + 0.4 * side)
            else:
                motion = np.zeros((n, 3))
            signal = 9.81 * up + motion + rng.normal(0, noise, (n, 3))
            xs.append(signal.astype(np.float32))
            ys.append(tmd.MODES[mode])
            users.append(f"user_{u:02d}")
            names.append(f"sensorfile_user_{u:02d}_{mode}_0.csv")
            modes.append(mode)
    return Dataset(
        name=NAME,
        x=xs,
        y=np.array(ys),
        groups=np.array(users),
        class_names=class_names(),
        source="synthetic",
        description="Synthetic stand-in for the TMD recordings (not real data).\n" + DESCRIPTION,
        sample_rate=float(rate),
        meta={
            "format": "tmd",
            "group_name": "user",
            "group_rule": "synthetic users",
            "per_example": ["recording", "mode", "native_rate"],
            "recording": np.array(names),
            "mode": np.array(modes),
            "native_rate": np.full(len(xs), float(rate)),  # generated at the fixed rate
            "seed": seed,
        },
    )


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------


def download(
    dest: str | os.PathLike | None = None, variant: str = "github", progress: bool = True
) -> Path:
    """Fetch the TMD recordings (``variant``: "github", the files of the commit named in
    :mod:`.tmd`, SHA-256 checked; "archive", the project's raw_data.tar.gz) into ``dest``
    (default: the download cache). Returns the folder."""
    folder = Path(dest) if dest is not None else download_cache_folder(LOCATION)
    return tmd.download(folder, variant=variant, progress=progress)


def load(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    rate: float = tmd.DEFAULT_RATE,
    block_windows: int = 10,
    variant: str = "github",
    seed: int = 0,
    progress: bool = True,
    **synthetic_options,
) -> Dataset:
    """CarSensor data (see the module docstring). ``data_dir`` may be the folder or the file.
    ``rate``: Hz the TMD recordings are resampled to; ``block_windows``: group size of a
    Kaggle file without recording ids; ``variant``: what ``source="download"`` fetches.
    ``seed`` and ``synthetic_options`` (n_users, minutes) only affect ``source="synthetic"``."""
    check_source(source)
    if source == "synthetic":
        return synthetic(seed=seed, rate=rate, **synthetic_options)
    if source == "download":
        folder = download(variant=variant, progress=progress)
        ds = tmd.read_folder(folder, rate=rate, progress=progress)
        url = tmd.remotes(variant)[0].url  # github: the folder of the files; else the archive
        ds.source = "download:" + (url.rsplit("/", 1)[0] if variant == "github" else url)
        return ds
    path = resolve_path(LOCATION, source, data_dir, lambda p: find_file(p) is not None)
    return read_path(path, block_windows=block_windows, rate=rate, progress=progress)
