"""The one gate every command passes a model through: check it, then run native code apart.

A .tflite file is a flatbuffer the runtimes trust: a flipped bit can point an op at tensor
32,774 of 10 or give an input a dimension of 2^30, and the C++ code then reads outside its
buffers (a segfault, exit 139) or allocates gigabytes. So, for every command:

1. :func:`check_model` reads the file (a folder or a file over ``TINYML_MAX_MODEL_MB`` is
   refused before anything is read: :func:`~tinyml_utils.tflite.interpreters.load_model_bytes`)
   and walks the whole flatbuffer with bounds checks
   (:func:`tinyml_utils.tflite.reader.model_info`, the checker ``tinyml diagnose`` uses),
   which also bounds every tensor: no negative dimension, at most 512 MB per tensor, no
   constant tensor bigger than its buffer.
2. :func:`run_isolated` runs a function of this package (an interpreter, TFLM) in a child
   Python process with a memory limit (RLIMIT_AS, ``TINYML_CHILD_MEMORY_MB``) and a time
   limit; a crash, a hang or running out of memory there becomes a
   :class:`~tinyml_utils.core.errors.ModelFileError` naming the model and what happened,
   and the command goes on or exits 2 with that one line.

:func:`predict_isolated` is the usual use: a model's outputs for a batch, in either runtime.
"""

from __future__ import annotations

import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.core.errors import DataError, ModelFileError, TinyMLError
from tinyml_utils.tflite._child import child_env
from tinyml_utils.tflite.info import ModelInfo
from tinyml_utils.tflite.interpreters import ModelLike, TFLiteRunner, TFLMRunner, load_model_bytes
from tinyml_utils.tflite.reader import model_info

#: a child's address-space limit (the runtimes plus numpy map ~1 GB before any model).
CHILD_MEMORY_MB = int(os.environ.get("TINYML_CHILD_MEMORY_MB", "4096"))


def _where(model: ModelLike, where: str | None) -> str:
    if where:
        return where
    return "the model bytes" if isinstance(model, bytes | bytearray) else str(model)


def check_model(model: ModelLike, where: str | None = None) -> ModelInfo:
    """Read, parse and bound-check a model; a :class:`ModelFileError` names what is wrong."""
    where = _where(model, where)
    data = load_model_bytes(model)
    try:
        info = model_info(data)
    except ModelFileError as exc:
        text = str(exc)
        raise ModelFileError(text if text.startswith(where) else f"{where}: {text}") from exc
    return info


# --------------------------------------------------------------------------- child process


def _limits(memory_mb: int):
    def apply() -> None:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_isolated(
    target: str,
    *args: Any,
    timeout: float = 300.0,
    memory_mb: int | None = None,
    what: str = "the model",
    **kwargs: Any,
) -> Any:
    """``module:function(*args, **kwargs)`` in a child Python process; its return value.

    The child has ``memory_mb`` of address space and ``timeout`` seconds. A signal (SIGSEGV,
    SIGABRT ...), a timeout or a MemoryError in the child raises :class:`ModelFileError`
    naming ``what``; a :class:`TinyMLError` raised there is raised here unchanged; any other
    exception becomes a ModelFileError with its type and message.
    """
    memory_mb = memory_mb or CHILD_MEMORY_MB
    with tempfile.TemporaryDirectory(prefix="tinyml_child_") as tmp:
        request, reply = Path(tmp) / "request.pkl", Path(tmp) / "reply.pkl"
        request.write_bytes(pickle.dumps((target, args, kwargs), protocol=5))
        env = child_env()
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tinyml_utils.tflite._isolated", str(request), str(reply)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: a timeout kills it all
            preexec_fn=_limits(memory_mb),
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ModelFileError(
                f"{what}: the runtime did not finish in {timeout:.0f} s and was stopped; the "
                "file is corrupt or far too big for a small device. Check it with "
                "`tinyml diagnose`."
            ) from None
        finally:
            _kill(proc)
        text = stderr.decode(errors="replace")
        if proc.returncode < 0:
            name = signal.Signals(-proc.returncode).name
            raise ModelFileError(
                f"{what}: the runtime crashed ({name}) on this model; the file is corrupt or "
                "uses something the runtime cannot handle. Check it with `tinyml diagnose`."
            )
        if not reply.is_file():
            last = [x for x in text.splitlines() if x.strip()][-1:] or ["no message"]
            if "MemoryError" in text or "bad_alloc" in text:
                raise ModelFileError(
                    f"{what}: the runtime needed more than {memory_mb:,} MB of memory and was "
                    "stopped (TINYML_CHILD_MEMORY_MB raises the limit)."
                )
            raise ModelFileError(
                f"{what}: the runtime stopped with exit code {proc.returncode} ({last[0][:200]})."
            )
        status, payload = pickle.loads(reply.read_bytes())
    if status == "ok":
        return payload
    if isinstance(payload, TinyMLError):
        raise payload
    kind, message = payload
    if kind == "MemoryError":
        raise ModelFileError(
            f"{what}: the runtime needed more than {memory_mb:,} MB of memory and was stopped "
            "(TINYML_CHILD_MEMORY_MB raises the limit)."
        )
    raise ModelFileError(f"{what}: the runtime failed ({kind}: {message[:300]}).")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait()


def _predict(
    model_bytes: bytes,
    x: np.ndarray,
    runtime: str,
    dequantize_output: bool,
    kernels: str,
    threads: int,
) -> np.ndarray:
    """Runs in the child: the runners of :mod:`tinyml_utils.tflite.interpreters`."""
    if runtime == "tflm":
        return TFLMRunner(model_bytes).predict(x, dequantize_output)
    return TFLiteRunner(model_bytes, num_threads=threads, kernels=kernels).predict(
        x, dequantize_output
    )


def predict_isolated(
    model: ModelLike,
    x: np.ndarray,
    runtime: str = "tflite",
    dequantize_output: bool = True,
    kernels: str = "optimized",
    threads: int = 1,
    where: str | None = None,
    timeout: float | None = None,
) -> np.ndarray:
    """Check ``model`` (:func:`check_model`), then its outputs for the float batch ``x``,
    computed by ai_edge_litert (``runtime="tflite"``) or TFLM (``"tflm"``) in a child."""
    if runtime not in ("tflite", "tflm"):
        raise DataError(f"runtime must be 'tflite' or 'tflm', got {runtime!r}.")
    where = _where(model, where)
    info = check_model(model, where)
    x = np.asarray(x, np.float32)
    if timeout is None:
        timeout = 120.0 + 0.05 * len(x)
    return run_isolated(
        "tinyml_utils.tflite.guard:_predict",
        info.data,
        x,
        runtime,
        dequantize_output,
        kernels,
        threads,
        timeout=timeout,
        what=f"{where} ({'TFLM' if runtime == 'tflm' else 'TFLite'})",
    )
