"""Subprocess worker of :mod:`tinyml_utils.tflite.tflm`: try arena sizes in TFLM.

Run as ``python -m tinyml_utils.tflite._tflm_probe MODEL.tflite SIZE [SIZE ...]``. For each
size, in the order given, it builds a TFLM interpreter with that arena, feeds zeros to every
input and invokes once, then writes one JSON line to stdout::

    {"start": 4096}                                  # before the attempt (crash detection)
    {"arena": 4096, "ok": true, "stage": "invoke", "log": "...", "allocations": "..."}

``log`` is what TFLM wrote to file descriptor 2 during the attempt (its error messages come
from C++ code, so ``sys.stderr`` does not see them; the descriptor itself is redirected).
With ``--stop-on-success`` it stops after the first size that works. A too-small arena can
crash the process (SIGSEGV): the parent sees the ``start`` line without a result and treats
that size as "does not fit". Only ``numpy`` and ``tflite_micro`` are imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def capture_fd2() -> Iterator[list[str]]:
    """Redirect file descriptor 2 into a temporary file; yields a list filled with the text."""
    sink: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", "replace"))


def try_arena(data: bytes, arena_size: int) -> dict:
    """One attempt: allocate with ``arena_size`` bytes, invoke on zeros, record allocations."""
    import numpy as np
    from tflite_micro import runtime

    result: dict = {"arena": arena_size, "ok": False, "stage": "allocate"}
    with capture_fd2() as log:
        try:
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
            result["stage"] = "invoke"
            index = 0
            while True:
                try:
                    detail = interpreter.get_input_details(index)
                except (IndexError, RuntimeError, ValueError):
                    break
                shape = [max(1, int(d)) for d in detail["shape"]]
                interpreter.set_input(np.zeros(shape, dtype=detail["dtype"]), index)
                index += 1
            interpreter.invoke()
            result["ok"] = True
        except Exception as exc:  # TFLM raises RuntimeError/ValueError with a short text
            result["error"] = f"{type(exc).__name__}: {exc}"
    result["log"] = log[0]
    if result["ok"]:
        with capture_fd2() as allocations:
            interpreter.print_allocations()
        result["allocations"] = allocations[0]
    return result


def main(argv: list[str]) -> int:
    stop_on_success = "--stop-on-success" in argv
    args = [a for a in argv if not a.startswith("--")]
    with open(args[0], "rb") as f:
        data = f.read()
    for size in (int(a) for a in args[1:]):
        print(json.dumps({"start": size}), flush=True)
        result = try_arena(data, size)
        print(json.dumps(result), flush=True)
        if result["ok"] and stop_on_success:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
