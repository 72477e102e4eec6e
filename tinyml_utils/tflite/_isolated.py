"""Child-process worker of :func:`tinyml_utils.tflite.guard.run_isolated`.

``python -m tinyml_utils.tflite._isolated REQUEST.pkl REPLY.pkl``: unpickles
``(module:function, args, kwargs)`` written by the parent (this package, never user data),
calls it and pickles ``("ok", result)`` or ``("error", exception)`` into REPLY. A crash of
native code here kills only this process; the parent reports it.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys


def main(argv: list[str]) -> int:
    from tinyml_utils.core.errors import TinyMLError

    request, reply = argv
    with open(request, "rb") as f:
        target, args, kwargs = pickle.load(f)
    module_name, func_name = target.split(":")
    try:
        result = ("ok", getattr(importlib.import_module(module_name), func_name)(*args, **kwargs))
    except TinyMLError as exc:
        result = ("error", exc)
    except MemoryError as exc:
        result = ("error", ("MemoryError", str(exc)))
    except Exception as exc:  # noqa: BLE001  (reported to the parent with its type)
        result = ("error", (type(exc).__name__, str(exc)))
    with open(reply + ".tmp", "wb") as f:
        pickle.dump(result, f, protocol=5)
    os.replace(reply + ".tmp", reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
