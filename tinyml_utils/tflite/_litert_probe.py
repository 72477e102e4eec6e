"""Subprocess worker of :mod:`tinyml_utils.analyze.latency`: can ai_edge_litert run a file?

``python -m tinyml_utils.tflite._litert_probe MODEL.tflite`` loads the model, allocates its
tensors and invokes it once on zeros, then prints one JSON line ``{"ok": true}`` or
``{"ok": false, "error": "..."}``. A file that crashes the interpreter kills only this
process; the parent reports the signal. Only ``numpy`` and ``ai_edge_litert`` are imported.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    with open(argv[0], "rb") as f:
        data = f.read()
    result: dict = {"ok": False}
    try:
        interpreter = Interpreter(model_content=data, num_threads=1)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            shape = [max(1, int(d)) for d in detail["shape"]]
            interpreter.set_tensor(detail["index"], np.zeros(shape, dtype=detail["dtype"]))
        interpreter.invoke()
        result["ok"] = True
    except Exception as exc:  # the interpreter raises RuntimeError/ValueError with its message
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
