"""``tinyml search``: one worker of a model size search study (Optuna).

    tinyml search --app motionsense --data-dir ../shared/data/motionsense \\
        --storage search.db --study ms --space wide --board mega2560 --trials 40
    tinyml search --data-dir ../shared/data/motionsense --storage search.db --study ms --trials 40

The first form creates the study (or resumes it, with the same settings); the second joins
an existing study with the settings stored in it. ``--storage`` is a SQLite file or any
SQLAlchemy URL (``postgresql://user:password@host/db``): N such processes on N machines
search one study. ``--trials`` and ``--epoch-budget`` are the *study's* totals, so a worker
that is stopped and started again continues instead of starting over.
"""

from __future__ import annotations

import argparse

import pandas as pd

from tinyml_utils.optimize import optuna_search, trials
from tinyml_utils.optimize.boards import BOARDS
from tinyml_utils.optimize.search import SPACES
from tinyml_utils.optimize.search_config import SAMPLERS

HELP = "run one worker of a model size search (Optuna study; resumable, shareable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", default="search.db", help="SQLite file or database URL")
    parser.add_argument("--study", required=True, help="the study's name in the storage")
    parser.add_argument("--trials", type=int, help="finish when the study holds N trials")
    parser.add_argument("--epoch-budget", type=int, help="finish when the study trained N epochs")
    parser.add_argument("--app", help="create the study for this app (omit to join a study)")
    parser.add_argument("--space", choices=sorted(SPACES), default="notebook")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    parser.add_argument("--board", choices=sorted(BOARDS), help="flash/RAM budget as constraints")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    parser.add_argument("--no-prune", action="store_true", help="train every trial fully")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="the app's real data folder (else synthetic data)")
    parser.add_argument(
        "--data-source",
        help="synthetic, local or download (default: local with --data-dir, else synthetic)",
    )
    parser.add_argument("--quick", action="store_true", help="small data (tests, a first try)")
    parser.add_argument("--model-dir", help="keep each completed trial's int8 .tflite here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    config = None
    if args.app:
        config = optuna_search.SearchConfig(
            app=args.app,
            space=args.space,
            epochs=args.epochs,
            sampler=args.sampler,
            board=args.board,
            prune=not args.no_prune,
            seed=args.seed,
        )
    source = args.data_source or ("local" if args.data_dir else "synthetic")
    study, ran = optuna_search.worker(
        args.storage,
        args.study,
        config,
        n_trials=args.trials,
        epoch_budget=args.epoch_budget,
        data_source=source,
        data_dir=args.data_dir,
        quick=args.quick,
        model_dir=args.model_dir,
        progress=not args.no_progress,
    )
    table = trials.trials_table(study)
    states = table["state"].value_counts().to_dict()
    print(
        f"this worker ran {ran} trial(s); study {study.study_name!r} holds {len(table)}: "
        + ", ".join(f"{n} {s.lower()}" for s, n in states.items())
        + f"; {optuna_search.epochs_used(study)} epochs trained"
    )
    front = trials.front_table(study)
    cols = ["trial", "candidate", "weights_bytes", "arena_bytes", "macs", "val_accuracy"]
    with pd.option_context("display.width", 120):
        print(f"Pareto front ({len(front)} trials):")
        print(front[cols].to_string(index=False) if len(front) else "  (no completed trial yet)")
    return 0
