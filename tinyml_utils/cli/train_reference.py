"""``tinyml train-reference``: train the reference model of an app."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyml_utils.apps.reference import train_reference
from tinyml_utils.apps.registry import references
from tinyml_utils.core.files import discard_staging
from tinyml_utils.core.paths import models_dir
from tinyml_utils.deploy.target_arena import target_arena

HELP = "train the reference model of an app"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app",
        required=True,
        choices=sorted(references()),
        help="reference to train (motionsense_6class: the 6-activity task)",
    )
    parser.add_argument("--data-dir", type=Path, help="real data folder (default ../shared/data)")
    parser.add_argument("--out", type=Path, help="output root (default: the repository's models/)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: the app's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument(
        "--force", action="store_true", help="replace the set already in the output folder"
    )


def _target_arena(model: bytes) -> int | None:
    """The int8 file's arena on the 32-bit Cortex-M4F (None, said, without the toolchain)."""
    found = target_arena(model)
    if found.bytes is None:
        print(f"target arena not measured: {found.reason}", flush=True)
    return found.bytes


def run(args: argparse.Namespace) -> int:
    try:
        train_reference(
            args.app,
            data_dir=args.data_dir,
            out_root=args.out,
            epochs=args.epochs,
            seed=args.seed,
            verbose=0 if args.quiet else 2,
            force=args.force,
            measure_target=_target_arena,
        )
    except BaseException:  # Ctrl-C or an error: the committed set was never touched
        discard_staging((args.out or models_dir()) / args.app)
        raise
    return 0
