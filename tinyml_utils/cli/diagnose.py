"""``tinyml diagnose``: find ops a microcontroller cannot run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinyml_utils.analyze.diagnose import diagnose
from tinyml_utils.core.errors import TinyMLError

HELP = "find ops a microcontroller cannot run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", help="a .tflite file, a SavedModel folder, or a Keras .h5/.keras file"
    )
    parser.add_argument(
        "--variant",
        default="float32",
        choices=("float32", "dynamic_range", "float16"),
        help="how to convert a Keras/SavedModel model before checking (default float32)",
    )
    parser.add_argument("--no-tflm", action="store_true", help="skip the TFLM run (static only)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the diagnosis; exit code 0 when TFLM runs the model and no issue was found."""
    path = Path(args.model)
    if not path.exists():
        raise TinyMLError(f"{path}: no such file or folder. Give a .tflite, SavedModel or .h5.")
    diagnosis = diagnose(str(path), variant=args.variant, run_tflm=not args.no_tflm)
    if args.json:
        print(json.dumps(diagnosis.as_dict(), indent=2, default=str))
    else:
        print(diagnosis.text())
    return 1 if diagnosis.issues else 0
