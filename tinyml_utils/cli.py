"""The ``tinyml`` command.

Each sub-command lives in its own module, which defines::

    HELP: str                                   # one line for `tinyml --help`
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int    # the exit code

Modules are imported only when their command runs, so ``tinyml --help`` is instant and
does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tinyml_utils.errors import TinyMLError

#: command name -> (module, one-line help). Add a command by adding a row.
COMMANDS: dict[str, tuple[str, str]] = {
    "run-notebooks": ("tinyml_utils.notebook_runner", "execute the notebooks headlessly"),
    "data": ("tinyml_utils.datasets.cli", "list, describe or download the datasets"),
    "train-reference": ("tinyml_utils.reference", "train the reference model of an app"),
    "evaluate": ("tinyml_utils.evaluate", "evaluate a .tflite model on a data folder"),
    "benchmark": ("tinyml_utils.analyze.cli", "benchmark one or more .tflite models"),
    "diagnose": ("tinyml_utils.diagnose", "find ops a microcontroller cannot run"),
    "export": ("tinyml_utils.deploy.cli", "export a .tflite model as C arrays / firmware"),
}


class CommandError(TinyMLError):
    """An error the CLI reports as one line (no traceback) with exit code 2."""


def build_parser(load_commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyml", description="TinyML Workbook: notebooks' helper command."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if load_commands is not None and name in load_commands:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = [a for a in argv if a in COMMANDS][:1]
    parser = build_parser(load_commands=wanted)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except TinyMLError as exc:
        print(f"tinyml {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
