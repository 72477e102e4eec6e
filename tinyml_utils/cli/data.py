"""``tinyml data``: list, describe, download or check the datasets.

tinyml data list
tinyml data describe motionsense
tinyml data download speech_commands [--variant test] [--dest DIR]
tinyml data check motionsense --data-dir ../shared/data/motionsense [--classes 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from tinyml_utils.apps import APPS, get_app
from tinyml_utils.core.paths import DATA_DIR_ENV
from tinyml_utils.data import datasets

HELP = "list, describe, download or check the datasets"


def dataset_name(name: str) -> str:
    """A dataset name, or an app name meaning its dataset (keyword_spotting: speech_commands)."""
    key = str(name).strip().lower()
    if key in APPS:
        key = get_app(key).dataset
    return datasets.canonical_name(key)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="the datasets, their folders and classes")
    describe = sub.add_parser("describe", help="what a dataset is, its license, how to get it")
    describe.add_argument("name")
    download = sub.add_parser("download", help="download a dataset (SHA-256 verified)")
    download.add_argument("name")
    download.add_argument("--dest", help="folder to extract into (default: the download cache)")
    download.add_argument(
        "--variant",
        default="full",
        choices=("full", "test"),
        help="speech_commands only: full v0.02 (2.4 GB) or the test set (112 MB)",
    )
    check = sub.add_parser("check", help="load a dataset and print counts per class and group")
    check.add_argument("name")
    check.add_argument("--data-dir", help=f"the dataset folder (default: ${DATA_DIR_ENV}/<folder>)")
    check.add_argument(
        "--source", default="auto", choices=("auto", "local", "synthetic", "download")
    )
    check.add_argument("--classes", type=int, help="motionsense only: 6 or 3")
    check.add_argument("--kind", help="gtzan only: features or audio")
    check.add_argument("--wake-word", help="speech_commands only (default: on)")


def _options(args: argparse.Namespace) -> dict:
    name = dataset_name(args.name)
    options: dict = {}
    if args.classes is not None and name == "motionsense":
        options["classes"] = args.classes
    if args.kind and name == "gtzan":
        options["kind"] = args.kind
    if args.wake_word and name == "speech_commands":
        options["wake_word"] = args.wake_word
    return options


def summary(ds: datasets.Dataset) -> str:
    """Counts per class and per group, as printed by ``tinyml data check``."""
    shape = ds.x.shape if isinstance(ds.x, np.ndarray) else f"{len(ds.x)} recordings"
    groups, sizes = np.unique(ds.groups, return_counts=True)
    group_name = ds.meta.get("group_name", "group")
    lines = [
        f"{ds.name}: {len(ds)} examples, x {shape}, source {ds.source}",
        f"sample rate: {ds.sample_rate or '-'} Hz",
        "examples per class:",
    ]
    lines += [f"  {name:<16} {count:>7}" for name, count in ds.counts().items()]
    lines.append(
        f"{len(groups)} {group_name}s; examples per {group_name}: min {sizes.min()}, "
        f"median {int(np.median(sizes))}, max {sizes.max()}"
    )
    if len(groups) <= 30:
        lines += [f"  {g!s:<20} {n:>7}" for g, n in zip(groups, sizes, strict=True)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in datasets.NAMES:
            module = datasets.get_module(name)
            print(
                f"{name:<16} folder {module.LOCATION.folder + '/':<18} "
                f"classes: {', '.join(module.class_names())}"
            )
        return 0
    if args.action == "describe":
        print(datasets.describe(dataset_name(args.name)))
        return 0
    if args.action == "download":
        module = datasets.get_module(dataset_name(args.name))
        kwargs = {"variant": args.variant} if module.NAME == "speech_commands" else {}
        folder = module.download(dest=args.dest, **kwargs)
        print(f"{module.NAME} is in {folder}")
        print(f"load it with datasets.load({module.NAME!r}, data_dir={str(folder)!r})")
        return 0
    if args.action == "check":
        ds = datasets.load(
            dataset_name(args.name), source=args.source, data_dir=args.data_dir, **_options(args)
        )
        print(summary(ds))
        return 0
    raise AssertionError(args.action)
