"""``tinyml run-notebooks``: execute the notebooks headlessly."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tinyml_utils.notebook.runner import NotebookFailed, run_notebooks

HELP = "execute the notebooks headlessly"


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fast parameters (QUICK=True)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers to run")
    parser.add_argument("--out", type=Path, help="output folder (default build/notebooks)")
    parser.add_argument("--data-source", help="DATA_SOURCE for every notebook (e.g. synthetic)")
    parser.add_argument("--data-dir", help="DATA_DIR for every notebook (real data folder)")
    parser.add_argument(
        "--param", action="append", type=_parse_param, default=[], metavar="NAME=VALUE"
    )
    parser.add_argument("--keep-going", action="store_true", help="run the rest after a failure")


def run(args: argparse.Namespace) -> int:
    params = dict(args.param)
    if args.data_source:
        params["DATA_SOURCE"] = args.data_source
    if args.data_dir:
        params["DATA_DIR"] = args.data_dir
    try:
        run_notebooks(args.only, args.quick, args.out, params, args.keep_going)
    except NotebookFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
