"""CarSensor ("Mobile Accelerometer Car 12K"): is the phone in a vehicle?

Examples are windows of 100 consecutive 3-axis accelerometer readings: x is float32
(N, 100, 3), y is 0 = not in vehicle, 1 = in vehicle.

Accepted files (put one in the ``carsensor`` folder, or pass the file as ``data_dir``):

- the Kaggle CSV ``mobile_accelerometer_car_12K.csv``: columns ``acc_x, acc_y, acc_z,
  target`` (other columns are ignored), one row per reading; every 100 consecutive rows are
  one window, labelled by its first row (as in the dataset's reference notebook). Generic
  CSVs with ``x, y, z`` and a ``label`` (or ``target``/``class``) column work the same way.
  Labels may be 0/1, true/false, or text such as "car"/"other".
- an ``.npz`` with ``x`` (N, 100, 3), ``y`` (N,) and optionally ``groups`` (N,).

**Groups.** The Kaggle file has no recording or user column, so recordings cannot be
recovered. The loader uses a column named ``recording``/``session``/``group`` when there is
one; otherwise each block of ``block_windows`` consecutive windows (default 10, i.e. 1,000
rows) is one group. Consecutive windows usually come from the same recording, so this keeps
neighbours together, but it cannot guarantee that a recording stays on one side of a split;
the file is also reported to be sorted by class and to contain many duplicate rows. Treat
accuracy on it with care and say so.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data.datasets.base import (
    Dataset,
    Location,
    check_source,
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
        f"carsensor/{CSV_FILE} (columns acc_x, acc_y, acc_z, target; 100 rows per window) "
        "or carsensor/<name>.npz with x (N, 100, 3), y (N,) and optional groups"
    ),
    get_it=(
        f"the dataset is on Kaggle and needs a free account: `pip install kaggle`, put your API "
        f"token in ~/.kaggle/kaggle.json, then `kaggle datasets download -d {KAGGLE_DATASET} "
        f"-p <folder> --unzip` and pass data_dir=<folder>"
    ),
)

DESCRIPTION = f"""\
Mobile Accelerometer Car 12K (Claudio Bottari, Kaggle): about 12,000 windows of 100
three-axis smartphone accelerometer readings, labelled in a vehicle (1) or not (0).
The file has no recording or user ids; groups are blocks of consecutive windows, so a split
cannot be guaranteed recording-disjoint.
License: as stated on the Kaggle page (check it before redistributing).
Get it: {LOCATION.get_it}; layout: {LOCATION.layout}."""


def class_names(**_options) -> list[str]:
    """["not_in_vehicle", "in_vehicle"]: index 1 is "in a vehicle"."""
    return list(CLASS_NAMES)


# ---------------------------------------------------------------------------------------
# Reading the real files
# ---------------------------------------------------------------------------------------


def find_file(path: Path) -> Path | None:
    """The data file: ``path`` itself, the Kaggle CSV in it, or its only .csv / .npz file."""
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


def read_path(path: str | os.PathLike, block_windows: int = 10) -> Dataset:
    path = Path(path)
    found = find_file(path)
    if found is None:
        raise DatasetNotFoundError(
            f"no CarSensor data file in {path} (expected {CSV_FILE}, or exactly one .csv or "
            f".npz). Fix: layout {LOCATION.layout}. {LOCATION.get_it}."
        )
    if found.suffix.lower() == ".npz":
        return read_npz(found, block_windows)
    return read_csv(found, block_windows)


# ---------------------------------------------------------------------------------------
# Synthetic stand-in
# ---------------------------------------------------------------------------------------


def synthetic(seed: int = 0, n_recordings: int = 12, windows_per_recording: int = 32) -> Dataset:
    """A learnable stand-in: half the recordings are 'in a vehicle' (gravity steady, slow sway,
    small engine vibration), half are 'not' (walking steps around 2 Hz, larger motion).
    Default: 12 recordings x 32 windows = 384 windows of (100, 3), in m/s^2, nominally 50 Hz.
    """
    rng = np.random.default_rng(seed)
    rate = 50.0
    xs, ys, groups = [], [], []
    for r in range(n_recordings):
        in_vehicle = r % 2
        n = windows_per_recording * WINDOW
        t = np.arange(n) / rate
        up = rng.normal(0, 1, 3)
        up /= np.linalg.norm(up)  # the phone's orientation: where gravity points
        side = rng.normal(0, 1, 3)
        side -= side.dot(up) * up
        side /= np.linalg.norm(side)
        if in_vehicle:  # steady gravity, slow sway sideways, faint engine vibration
            sway = rng.uniform(0.3, 0.6) * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t)
            engine = 0.15 * np.sin(2 * np.pi * rng.uniform(15, 22) * t)
            motion = sway[:, None] * side + engine[:, None] * up
            noise = 0.1
        else:  # walking: a vertical bounce at the step rate, with a heel-strike harmonic
            f = rng.uniform(1.6, 2.2)
            step = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)
            amp = rng.uniform(2.0, 3.5)
            motion = amp * step[:, None] * (0.9 * up + 0.4 * side)
            noise = 0.5
        signal = 9.81 * up + motion + rng.normal(0, noise, (n, 3))
        xs.append(signal.reshape(windows_per_recording, WINDOW, AXES))
        ys += [in_vehicle] * windows_per_recording
        groups += [f"recording_{r:02d}"] * windows_per_recording
    return Dataset(
        name=NAME,
        x=np.concatenate(xs).astype(np.float32),
        y=np.array(ys, dtype=np.int64),
        groups=np.array(groups),
        class_names=class_names(),
        source="synthetic",
        description="Synthetic stand-in for Mobile Accelerometer Car 12K (not real data).\n"
        + DESCRIPTION,
        sample_rate=None,
        meta={"group_name": "recording", "group_rule": "synthetic recordings", "seed": seed},
    )


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------


def download(dest: str | os.PathLike | None = None, **_options) -> Path:
    """The dataset needs Kaggle credentials: this explains how to get it."""
    raise DatasetNotFoundError(f"CarSensor cannot be downloaded automatically. {LOCATION.get_it}.")


def load(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    block_windows: int = 10,
    seed: int = 0,
    **synthetic_options,
) -> Dataset:
    """CarSensor windows (see the module docstring). ``data_dir`` may be the folder or the
    file. ``seed`` and ``synthetic_options`` (n_recordings, windows_per_recording) only affect
    ``source="synthetic"``."""
    check_source(source)
    if source == "synthetic":
        return synthetic(seed=seed, **synthetic_options)
    if source == "download":
        download()
    path = resolve_path(LOCATION, source, data_dir, lambda p: find_file(p) is not None)
    return read_path(path, block_windows=block_windows)
