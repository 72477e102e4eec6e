"""``tinyml export``: a .tflite model as a C array, as generated C99, or as an Arduino sketch.

tinyml export model_int8.tflite --name carsensor --out build/export            # C array
tinyml export model_int8.tflite --name carsensor --out build/export --codegen  # C99
tinyml export model_int8.tflite --name carsensor --out firmware/arduino --sketch
The sketch reads the input normalisation (and, for keyword spotting, the audio front end's
constants) from the preprocessing.json next to the model, or from --preprocessing.
"""

from __future__ import annotations

import argparse

from tinyml_utils.deploy.c_array import export_c_array
from tinyml_utils.deploy.codegen import generate
from tinyml_utils.deploy.sketch import write_sketch

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


def run(args: argparse.Namespace) -> int:
    if args.codegen:
        g = generate(args.model, args.name, args.out)
        print(f"wrote {', '.join(str(f) for f in g.files)}")
        print(
            f"{g.name}_invoke(): {g.macs} MACs, arena {g.arena_bytes} B, "
            f"constants {g.weights_bytes} B, ops {', '.join(sorted(set(g.ops)))}"
        )
        return 0
    if args.sketch:
        s = write_sketch(args.name, args.model, args.out, preprocessing=args.preprocessing)
        print(f"wrote {s.ino}, {s.model_header}, {s.model_source}")
        for f in s.extra_files:
            print(f"wrote {f}")
        print(f"ops: {', '.join(s.ops)}; arena {s.arena_bytes} B (measured {s.measured_arena} B)")
        print(f"input normalisation: {s.preprocessing}")
        if s.preprocessing.startswith("identity"):
            print(
                "WARNING: no preprocessing.json next to the model: the sketch normalises with "
                "mean 0 / std 1; pass --preprocessing models/<app>/preprocessing.json"
            )
        return 0

    exp = export_c_array(
        args.model, args.out, args.name, arena_bytes=None if args.no_arena else "measure"
    )
    print(f"wrote {exp.header} and {exp.source} ({exp.length} bytes, {exp.identifier})")
    for line in exp.summary:
        print("  " + line)
    return 0
