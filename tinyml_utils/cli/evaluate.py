"""``tinyml evaluate``: evaluate a .tflite model on a data folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinyml_utils.analyze.evaluate import evaluate_model
from tinyml_utils.apps import APPS

HELP = "evaluate a .tflite model on a data folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL.tflite", help="the model to evaluate")
    parser.add_argument("--app", choices=APPS, help="application (default: from --params)")
    parser.add_argument(
        "--data", required=True, type=Path, metavar="DIR", help="data folder, original layout"
    )
    parser.add_argument(
        "--params", type=Path, help="preprocessing.json (default: the one next to the model)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also evaluate on subjects/speakers/tracks the model was trained on",
    )
    parser.add_argument(
        "--runtime", choices=("tflite", "tflm"), default="tflite", help="interpreter to run"
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run(args: argparse.Namespace) -> int:
    evaluation = evaluate_model(
        args.model,
        args.data,
        app=args.app,
        params=args.params,
        include_seen=args.all,
        runtime=args.runtime,
    )
    if args.json:
        print(json.dumps({"app": evaluation.app, **evaluation.result.summary()}, indent=2))
    else:
        print(evaluation)
    return 0
