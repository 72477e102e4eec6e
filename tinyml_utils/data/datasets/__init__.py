"""The workbook's four datasets behind one small API.

    from tinyml_utils.data import datasets
    ds = datasets.load("motionsense", source="auto", data_dir=None, classes=3)
    train, val, test = datasets.split_by_group(ds, test_size=0.2, val_size=0.1, seed=0)

``source`` is where the examples come from:

- ``"synthetic"``: a small, deterministic, learnable stand-in with the real shapes and classes
  (quick mode, tests, working offline). Never report accuracy measured on it.
- ``"local"``: ``data_dir`` (or ``$TINYML_DATA_DIR/<folder>``).
- ``"download"``: the dataset's public home, into the download cache
  (``tinyml_utils.core.paths.cache_dir()``), with a SHA-256 check. Known hashes ship in
  ``datasets/checksums.json``; for a file with no known hash, the first download's hash is
  recorded in ``<cache_dir>/checksums.json`` and later downloads must match it.
  (CarSensor downloads the public TMD recordings; GTZAN lives on Kaggle and needs an account:
  the error explains the steps.)
- ``"auto"``: ``data_dir`` if given, else ``$TINYML_DATA_DIR/<folder>`` (or the shared data
  beside the checkout), else a previous download, else a DatasetNotFoundError that says which
  folder layout to create and how to download it.

Folder names under ``$TINYML_DATA_DIR``: motionsense, carsensor, keyword_spotting (Speech
Commands) and music_genre (GTZAN). ``tinyml data`` also accepts an app name for its dataset
(the apps registry knows which).

Every dataset module (motionsense, carsensor, speech_commands, gtzan) has the same parts:
``load(source, data_dir, **options)``, ``class_names(**options)``, ``DESCRIPTION``,
``synthetic(seed=0, ...)`` and ``download(dest)``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from types import ModuleType

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.data.datasets.base import Dataset

__all__ = [
    "NAMES",
    "Dataset",
    "class_names",
    "describe",
    "get_module",
    "load",
    "split_by_group",
]

NAMES = ("motionsense", "carsensor", "speech_commands", "gtzan")


def canonical_name(name: str) -> str:
    """The dataset name for ``name`` (case and spaces ignored)."""
    key = str(name).strip().lower()
    if key not in NAMES:
        raise DataError(f"unknown dataset {name!r}; choose one of {list(NAMES)}")
    return key


def get_module(name: str) -> ModuleType:
    """The module that implements dataset ``name`` (e.g. tinyml_utils.data.datasets.gtzan)."""
    return importlib.import_module(f"tinyml_utils.data.datasets.{canonical_name(name)}")


def load(
    name: str,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    **options,
) -> Dataset:
    """Load dataset ``name`` from ``source`` ("auto", "synthetic", "local", "download").

    ``options`` are the dataset's own: motionsense ``classes=6|3``; speech_commands
    ``wake_word="on"``, ``max_per_word``, ``max_per_class``, ``variant``; gtzan
    ``kind="features"|"audio"``, ``duration``; carsensor ``block_windows``; and ``seed`` plus
    size options for synthetic data.
    """
    return get_module(name).load(source=source, data_dir=data_dir, **options)


def class_names(name: str, **options) -> list[str]:
    """The class names of dataset ``name`` (index = label), without loading any data."""
    return get_module(name).class_names(**options)


def describe(name: str) -> str:
    """What the dataset is, its license and citation, and how to get it."""
    module = get_module(name)
    loc = module.LOCATION
    return (
        f"{canonical_name(name)}\n{module.DESCRIPTION}\n"
        f"Folder under $TINYML_DATA_DIR: {loc.folder}/\n"
        f"Classes: {', '.join(module.class_names())}"
    )


def _fmt_groups(groups: Iterable) -> str:
    groups = list(groups)
    shown = ", ".join(str(g) for g in groups[:8])
    return f"{len(groups)} ({shown}{', ...' if len(groups) > 8 else ''})"


def split_by_group(
    ds: Dataset,
    test_size: float = 0.2,
    val_size: float = 0.1,
    seed: int = 0,
    test_groups: Iterable | None = None,
) -> tuple[Dataset, Dataset, Dataset]:
    """Split into (train, val, test) so that no group (subject, speaker, track, recording)
    is on two sides.

    ``test_size`` and ``val_size`` are fractions of the **groups** (not of the examples),
    rounded, at least one group each (``val_size=0`` gives an empty validation set). The
    groups are shuffled with ``seed``. ``test_groups`` fixes the test groups instead (e.g.
    subjects ``[19, 20, 21]``); the validation groups are then drawn from the rest.
    Each part's ``meta["split"]`` names the split, e.g. "by subject: test 4 (3, 11, 19, 20)
    ...", for reports.
    """
    if not 0 < test_size < 1 and test_groups is None:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    if not 0 <= val_size < 1:
        raise ValueError(f"val_size must be a fraction in [0, 1), got {val_size!r}")
    if test_groups is None and test_size + val_size >= 1:
        raise ValueError(
            f"test_size + val_size must be below 1 to leave training data, got "
            f"{test_size} + {val_size}"
        )
    groups = np.unique(ds.groups)
    n = len(groups)
    group_name = ds.meta.get("group_name", "group")
    rng = np.random.default_rng(seed)

    if test_groups is not None:
        wanted = np.unique(np.asarray(list(test_groups)).astype(groups.dtype))
        unknown = wanted[~np.isin(wanted, groups)]
        if len(wanted) == 0 or len(unknown):
            raise DataError(
                f"test_groups {list(unknown) or '[]'} are not {group_name}s of this dataset; "
                f"its {n} {group_name}s include {_fmt_groups(groups)}"
            )
        test = wanted
        rest = rng.permutation(groups[~np.isin(groups, test)])
        n_val = max(1, round(val_size * n)) if val_size > 0 else 0
        val = rest[:n_val]
    else:
        n_test = max(1, round(test_size * n))
        n_val = max(1, round(val_size * n)) if val_size > 0 else 0
        order = rng.permutation(groups)
        test, val = order[:n_test], order[n_test : n_test + n_val]
    n_train = n - len(test) - len(val)
    if n_train < 1:
        raise DataError(
            f"{ds.name} has only {n} {group_name}s: cannot give {len(test)} to test and "
            f"{len(val)} to validation and keep any for training. Fix: use smaller "
            f"test_size/val_size, or more data (more {group_name}s)."
        )
    test, val = np.sort(test), np.sort(val)
    in_test, in_val = np.isin(ds.groups, test), np.isin(ds.groups, val)
    description = (
        f"by {group_name}: train {n_train}, val {_fmt_groups(val)}, test {_fmt_groups(test)} "
        f"(seed {seed})"
    )
    parts = []
    for part, mask in (("train", ~(in_test | in_val)), ("val", in_val), ("test", in_test)):
        sub = ds.subset(mask)
        sub.meta["split"] = description
        sub.meta["split_part"] = part
        parts.append(sub)
    return parts[0], parts[1], parts[2]
