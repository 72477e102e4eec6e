"""MotionSense: smartphone motion sensors (50 Hz, 12 channels) for 6 activities.

One example is one **recording**: the whole trial of one subject, a float32 array of shape
(T, 12) with T between about 1,500 and 9,000 samples. Windowing is the application's job.
Groups are subject ids, so a split by group never puts one person on both sides.

Labels: ``classes=6`` gives dws, ups, wlk, jog, sit, std; ``classes=3`` groups them as
stairs = {dws, ups}, walk_jog = {wlk, jog}, sit_stand = {sit, std}.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data.datasets.base import (
    Dataset,
    Location,
    check_source,
    download_cache_folder,
    local_source,
    read_csv_checked,
    resolve_path,
)
from tinyml_utils.data.datasets.download import Remote, download_dataset

NAME = "motionsense"
SAMPLE_RATE = 50.0
CHANNELS = [
    "attitude.roll",
    "attitude.pitch",
    "attitude.yaw",
    "gravity.x",
    "gravity.y",
    "gravity.z",
    "rotationRate.x",
    "rotationRate.y",
    "rotationRate.z",
    "userAcceleration.x",
    "userAcceleration.y",
    "userAcceleration.z",
]
ACTIVITIES = ["dws", "ups", "wlk", "jog", "sit", "std"]
ACTIVITY_NAMES = {
    "dws": "walking downstairs",
    "ups": "walking upstairs",
    "wlk": "walking",
    "jog": "jogging",
    "sit": "sitting",
    "std": "standing",
}
GROUPED = {"stairs": ("dws", "ups"), "walk_jog": ("wlk", "jog"), "sit_stand": ("sit", "std")}
#: trial numbers of each activity in the original dataset
TRIALS = {
    "dws": (1, 2, 11),
    "ups": (3, 4, 12),
    "wlk": (7, 8, 15),
    "jog": (9, 16),
    "sit": (5, 13),
    "std": (6, 14),
}
TRIALS_FOLDER = "A_DeviceMotion_data"
SUBJECTS_FILE = "data_subjects_info.csv"
_TRIAL_RE = re.compile(r"^(dws|ups|wlk|jog|sit|std)_(\d+)$")
_FILE_RE = re.compile(r"^sub_(\d+)\.csv(\.gz)?$")

REPO = "https://github.com/mmalekzadeh/motion-sense/raw/master/data"
REMOTES = (
    Remote(f"{REPO}/{TRIALS_FOLDER}.zip", f"{TRIALS_FOLDER}.zip", extract=True),
    Remote(f"{REPO}/{SUBJECTS_FILE}", SUBJECTS_FILE, extract=False),
)

LOCATION = Location(
    name=NAME,
    folder="motionsense",
    layout=(
        f"motionsense/{TRIALS_FOLDER}/<activity>_<trial>/sub_<n>.csv (or .csv.gz), "
        f"e.g. {TRIALS_FOLDER}/dws_1/sub_1.csv, plus motionsense/{SUBJECTS_FILE}"
    ),
    get_it=(
        "`tinyml data download motionsense` (or unzip data/A_DeviceMotion_data.zip from "
        "github.com/mmalekzadeh/motion-sense)"
    ),
)

DESCRIPTION = f"""\
MotionSense (DeviceMotion): an iPhone 6s in the front trouser pocket of 24 subjects recorded
Core Motion data at 50 Hz (attitude, gravity, rotation rate, user acceleration; 12 channels)
during 6 activities: walking downstairs (dws), upstairs (ups), walking (wlk), jogging (jog),
sitting (sit) and standing (std), in 15 trials. One example = one (trial, subject) recording.
Split by subject.
License: MIT (Copyright (c) 2018 Mohammad Malekzadeh). Cite: Malekzadeh et al., "Mobile
Sensor Data Anonymization", IoTDI 2019.
Get it: {LOCATION.get_it}; layout: {LOCATION.layout}."""


def class_names(classes: int = 6) -> list[str]:
    """["dws", "ups", "wlk", "jog", "sit", "std"] or, with classes=3, the grouped names."""
    if classes == 6:
        return list(ACTIVITIES)
    if classes == 3:
        return list(GROUPED)
    raise ValueError(f"classes must be 6 or 3, got {classes!r}")


def label_of(activity: str, classes: int = 6) -> int:
    """Class index of an activity code ("dws"...) for 6 or 3 classes."""
    if classes == 6:
        return ACTIVITIES.index(activity)
    class_names(classes)
    for i, members in enumerate(GROUPED.values()):
        if activity in members:
            return i
    raise ValueError(f"unknown activity {activity!r}; expected one of {ACTIVITIES}")


# ---------------------------------------------------------------------------------------
# Reading the real files
# ---------------------------------------------------------------------------------------


def _trial_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and _TRIAL_RE.match(p.name))


def find_trials_folder(path: Path) -> Path | None:
    """The folder that holds the <activity>_<trial> folders, searched up to 2 levels down."""
    for candidate in (path, path / TRIALS_FOLDER):
        if _trial_dirs(candidate):
            return candidate
    if path.is_dir():
        for child in sorted(path.iterdir()):
            for candidate in (child, child / TRIALS_FOLDER):
                if _trial_dirs(candidate):
                    return candidate
    return None


SUBJECT_COLUMNS = ("code", "weight", "height", "age", "gender")


def read_subjects(path: Path) -> pd.DataFrame:
    """The subject table (code, weight, height, age, gender); the file starts with a BOM.

    No ``code`` column, or a cell that is not a number, is a DataError naming the file and
    the line; the other columns are optional, and a warning names those missing.
    """
    table = read_csv_checked(path, columns=("code",), numeric=SUBJECT_COLUMNS)
    missing = [c for c in SUBJECT_COLUMNS if c not in table.columns]
    if missing:
        warnings.warn(
            f"{path}: no column(s) {missing} (found {list(table.columns)}); the original "
            f"{SUBJECTS_FILE} has {list(SUBJECT_COLUMNS)}. The recordings are read anyway.",
            stacklevel=2,
        )
    return table


def read_recording(path: Path) -> np.ndarray:
    """One sub_<n>.csv(.gz) file as a float32 array (T, 12) in CHANNELS order.

    A corrupt or truncated archive, a missing column, a row cut short or a value that is
    not a finite number (NaN, inf, empty) is a DataError naming the file and the line.
    """
    frame = read_csv_checked(path, columns=CHANNELS, numeric=CHANNELS, index_col=0)
    values = frame[list(CHANNELS)].to_numpy(dtype=np.float32)
    if len(values) == 0:
        raise DataError(f"{path}: has no data rows. Fix: replace it with the original file.")
    return values


def read_folder(path: str | os.PathLike, classes: int = 6, progress: bool = True) -> Dataset:
    """Read every <activity>_<trial>/sub_<n>.csv(.gz) under ``path`` (315 files: ~2 s)."""
    from tinyml_utils.core.progress import tqdm

    path = Path(path)
    names = class_names(classes)
    trials_folder = find_trials_folder(path)
    if trials_folder is None:
        raise DatasetNotFoundError(
            f"{path} does not have the MotionSense layout: no <activity>_<trial> folders "
            f"(dws_1, ups_3, ...) found there or in {path / TRIALS_FOLDER}. Fix: arrange the "
            f"files as {LOCATION.layout}."
        )
    xs, ys, groups, trials, activities = [], [], [], [], []
    for trial_dir in tqdm(_trial_dirs(trials_folder), desc="motionsense", disable=not progress):
        files = sorted(
            (int(m.group(1)), f)
            for f in trial_dir.iterdir()
            if (m := _FILE_RE.match(f.name)) is not None
        )
        if not files:
            raise DataError(
                f"{trial_dir} holds no sub_<n>.csv or sub_<n>.csv.gz files. Fix: put the "
                f"recordings there, or remove the empty folder."
            )
        activity = _TRIAL_RE.match(trial_dir.name).group(1)
        for subject, f in files:
            xs.append(read_recording(f))
            ys.append(label_of(activity, classes))
            groups.append(subject)
            trials.append(trial_dir.name)
            activities.append(activity)

    subjects_info = None
    for candidate in (path / SUBJECTS_FILE, trials_folder.parent / SUBJECTS_FILE):
        if candidate.exists():
            subjects_info = read_subjects(candidate)
            break

    return Dataset(
        name=NAME,
        x=xs,
        y=np.array(ys, dtype=np.int64),
        groups=np.array(groups, dtype=np.int64),
        class_names=names,
        source=local_source(path),
        description=DESCRIPTION,
        sample_rate=SAMPLE_RATE,
        meta={
            "channels": list(CHANNELS),
            "trials": trials,
            "activities": activities,
            "per_example": ("trials", "activities"),
            "group_name": "subject",
            "subjects_info": subjects_info,
            "classes": classes,
        },
    )


# ---------------------------------------------------------------------------------------
# Synthetic stand-in
# ---------------------------------------------------------------------------------------

#: (step frequency Hz, user-acceleration amplitude g, rotation amplitude rad/s, pitch rad)
_SYNTH_PROFILE = {
    "dws": (1.9, 0.45, 1.0, -1.25),
    "ups": (1.5, 0.30, 0.7, -1.35),
    "wlk": (1.8, 0.35, 1.2, -1.30),
    "jog": (2.7, 1.10, 3.0, -1.20),
    "sit": (0.0, 0.01, 0.03, -0.25),
    "std": (0.0, 0.02, 0.06, -1.45),
}


def synthetic(
    seed: int = 0,
    classes: int = 6,
    n_subjects: int = 12,
    seconds: float = 10.0,
) -> Dataset:
    """A learnable stand-in: one recording per (activity, subject), about ``seconds`` long.

    Each activity has its own step frequency, movement energy and phone pitch; every subject
    scales them a little, and noise is added. Same channels, rate and classes as the real data.
    """
    rng = np.random.default_rng(seed)
    names = class_names(classes)
    xs, ys, groups, trials, activities = [], [], [], [], []
    for subject in range(1, n_subjects + 1):
        speed = rng.uniform(0.9, 1.1)
        strength = rng.uniform(0.8, 1.2)
        for activity in ACTIVITIES:
            freq, acc_amp, rot_amp, pitch = _SYNTH_PROFILE[activity]
            n = int(SAMPLE_RATE * seconds * rng.uniform(0.8, 1.2))
            t = np.arange(n) / SAMPLE_RATE
            phase = rng.uniform(0, 2 * np.pi)
            w = 2 * np.pi * freq * speed
            step = np.sin(w * t + phase)
            # stairs down: sharp heel strikes (strong 2nd harmonic); up: smooth and slow
            harmonic = {"dws": 0.6, "ups": -0.3, "jog": 0.4}.get(activity, 0.2)
            step2 = harmonic * np.sin(2 * w * t + 2 * phase)
            roll = 0.1 * rng.standard_normal() + 0.15 * rot_amp * 0.1 * step
            pit = pitch + 0.05 * rot_amp * step
            yaw = np.cumsum(rng.normal(0, 0.002, n)) + rng.uniform(-np.pi, np.pi)
            grav = np.stack(
                [np.cos(pit) * np.sin(roll), -np.sin(pit), -np.cos(pit) * np.cos(roll)], axis=1
            )
            rot = rot_amp * strength * np.stack([step, 0.5 * step2, 0.3 * np.cos(w * t)], axis=1)
            acc = acc_amp * strength * np.stack([0.3 * step, step + step2, 0.5 * step2], axis=1)
            x = np.concatenate(
                [np.stack([roll * np.ones(n), pit, yaw], axis=1), grav, rot, acc], axis=1
            )
            x += rng.normal(0, 0.02, x.shape)
            xs.append(x.astype(np.float32))
            ys.append(label_of(activity, classes))
            groups.append(subject)
            trials.append(f"{activity}_{TRIALS[activity][0]}")
            activities.append(activity)
    return Dataset(
        name=NAME,
        x=xs,
        y=np.array(ys, dtype=np.int64),
        groups=np.array(groups, dtype=np.int64),
        class_names=names,
        source="synthetic",
        description="Synthetic stand-in for MotionSense (not real data).\n" + DESCRIPTION,
        sample_rate=SAMPLE_RATE,
        meta={
            "channels": list(CHANNELS),
            "trials": trials,
            "activities": activities,
            "per_example": ("trials", "activities"),
            "group_name": "subject",
            "subjects_info": None,
            "classes": classes,
            "seed": seed,
        },
    )


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------


def download(dest: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Fetch A_DeviceMotion_data.zip and the subject table, verify and extract them."""
    folder = Path(dest) if dest is not None else download_cache_folder(LOCATION)
    return download_dataset(REMOTES, folder, progress=progress)


def load(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    classes: int = 6,
    seed: int = 0,
    progress: bool = True,
    **synthetic_options,
) -> Dataset:
    """MotionSense recordings (see the module docstring). ``seed`` and ``synthetic_options``
    (n_subjects, seconds) only affect ``source="synthetic"``."""
    check_source(source)
    class_names(classes)
    if source == "synthetic":
        return synthetic(seed=seed, classes=classes, **synthetic_options)
    if source == "download":
        ds = read_folder(download(progress=progress), classes=classes, progress=progress)
        ds.source = f"download:{REMOTES[0].url}"
        return ds
    path = resolve_path(LOCATION, source, data_dir, lambda p: find_trials_folder(p) is not None)
    return read_folder(path, classes=classes, progress=progress)
