"""``tinyml export``: a .tflite model as a C array, as generated C99, or as an Arduino sketch.

tinyml export model_int8.tflite --name carsensor --out build/export            # C array
tinyml export model_int8.tflite --name carsensor --out build/export --codegen  # C99
tinyml export model_int8.tflite --name carsensor --out firmware/arduino --sketch
The sketch reads the input normalisation (and, for keyword spotting, the audio front end's
constants) from the preprocessing.json next to the model, or from --preprocessing.

The model is checked first (tinyml_utils.tflite.guard); ``--name`` becomes a C identifier
(letters, digits, ``_``); a sketch's ``.ino`` (which people edit) is replaced only with
``--force``; a model TFLM cannot run still exports, with a warning saying why.
"""

from __future__ import annotations

import argparse
import sys

from tinyml_utils.core.errors import ModelFileError, TinyMLError
from tinyml_utils.core.files import OutputLock, output_folder, refuse_overwrite
from tinyml_utils.deploy.c_array import export_c_array
from tinyml_utils.deploy.codegen import generate
from tinyml_utils.deploy.identifiers import c_identifier
from tinyml_utils.deploy.sketch import write_sketch
from tinyml_utils.tflite.guard import check_model
from tinyml_utils.tflite.tflm import classify_tflm_support

HELP = "export a .tflite model as C arrays / generated C99 / a TFLM Arduino sketch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="path of the int8 .tflite model")
    parser.add_argument("--name", default="model", help="C name prefix (default: model)")
    parser.add_argument("--out", default="export", help="output folder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--codegen", action="store_true", help="generate dependency-free C99")
    mode.add_argument("--sketch", action="store_true", help="write a TFLM Arduino sketch")
    parser.add_argument(
        "--no-arena", action="store_true", help="C array: do not measure the TFLM arena"
    )
    parser.add_argument(
        "--preprocessing",
        default=None,
        help="sketch: the model's preprocessing.json (default: the one next to the model)",
    )
    parser.add_argument(
        "--force", action="store_true", help="sketch: replace an existing (maybe edited) .ino"
    )


def run(args: argparse.Namespace) -> int:
    info = check_model(args.model)
    name = c_identifier(args.name)
    if name != args.name:
        print(f"note: --name {args.name!r} is used as the C identifier {name!r}")
    out = output_folder(args.out)
    with OutputLock(out, "tinyml export"):
        code = _export(args, name, out)
    support = classify_tflm_support(info.data)
    if not support.ok:
        print(
            "WARNING: TensorFlow Lite Micro cannot run this model, so the exported files will "
            f"not work on a microcontroller as they are:\n{support.summary()}",
            file=sys.stderr,
        )
    return code


def _export(args: argparse.Namespace, name: str, out) -> int:
    if args.codegen:
        try:
            g = generate(args.model, name, out)
        except TinyMLError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError) as exc:
            # the generator (pure Python) trusts that the shapes of every op agree; a model
            # whose tensors contradict each other gets one line, not a traceback
            raise ModelFileError(
                f"{args.model}: the C generator cannot handle this model "
                f"({type(exc).__name__}: {exc}); its ops' shapes or data do not agree. Check "
                "it with `tinyml diagnose`, or re-export it."
            ) from exc
        print(f"wrote {', '.join(str(f) for f in g.files)}")
        print(
            f"{g.name}_invoke(): {g.macs} MACs, arena {g.arena_bytes} B, "
            f"constants {g.weights_bytes} B, ops {', '.join(sorted(set(g.ops)))}"
        )
        return 0
    if args.sketch:
        refuse_overwrite(
            [out / name / f"{name}.ino"], args.force, "a sketch a person may have edited"
        )
        s = write_sketch(name, args.model, out, preprocessing=args.preprocessing)
        print(f"wrote {s.ino}, {s.model_header}, {s.model_source}")
        for f in s.extra_files:
            print(f"wrote {f}")
        measured = (
            f"{s.target_arena} B on a 32-bit Cortex-M4F, {s.measured_arena} B on the 64-bit host"
            if s.target_arena
            else f"{s.measured_arena} B on the 64-bit host; no ARM toolchain to measure the target"
        )
        print(f"ops: {', '.join(s.ops)}; kArenaBytes {s.arena_bytes} B (measured {measured})")
        print(f"input normalisation: {s.preprocessing}")
        if s.preprocessing.startswith("identity"):
            print(
                "WARNING: no preprocessing.json next to the model: the sketch normalises with "
                "mean 0 / std 1; pass --preprocessing models/<app>/preprocessing.json"
            )
        return 0

    exp = export_c_array(args.model, out, name, arena_bytes=None if args.no_arena else "measure")
    print(f"wrote {exp.header} and {exp.source} ({exp.length} bytes, {exp.identifier})")
    for line in exp.summary:
        print("  " + line)
    return 0
