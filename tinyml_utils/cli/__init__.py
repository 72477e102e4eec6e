"""The ``tinyml`` command.

Each sub-command lives in its own module, which defines::

    HELP: str                                   # one line for `tinyml --help`
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int    # the exit code

``tinyml --help`` imports every command module for its ``HELP``: command modules keep
TensorFlow out of their module-level imports (it costs seconds), the library modules they
call import it through :mod:`tinyml_utils.core.tf` when a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tinyml_utils.core.errors import TinyMLError

#: ``tinyml`` command -> the module under ``tinyml_utils.cli`` that implements it.
#: Add a command: write ``cli/<module>.py`` (HELP, add_arguments, run) and add a row here.
COMMANDS: dict[str, str] = {
    "run-notebooks": "run_notebooks",
    "data": "data",
    "train-reference": "train_reference",
    "evaluate": "evaluate",
    "benchmark": "benchmark",
    "diagnose": "diagnose",
    "export": "export",
    "search": "search",
}


def command_module(name: str):
    """The module of command ``name`` (imported on use)."""
    return importlib.import_module(f"tinyml_utils.cli.{COMMANDS[name]}")


class CommandError(TinyMLError):
    """An error the CLI reports as one line (no traceback) with exit code 2."""


def build_parser(load_commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyml", description="TinyML Workbook: notebooks' helper command."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = command_module(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        if load_commands is not None and name in load_commands:
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
