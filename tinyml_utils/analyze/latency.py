"""How long one inference takes with ai_edge_litert (TFLite) on this computer.

Numbers measured (milliseconds), with ``threads`` stated because they depend on it:

* ``init_ms``: creating the interpreter and allocating its tensors (once per program).
* ``first_ms``: the first inference (caches cold, lazy kernel setup such as XNNPACK packing
  the weights happens here).
* ``warmup_mean_ms``: the mean of the next ``warmup`` inferences, not counted below.
* ``mean_ms``, ``median_ms``, ``p90_ms``, ``std_ms``, ``min_ms``: over ``runs`` timed
  inferences in steady state. The median is the robust figure on a busy machine.

This is PC latency, useful to compare models and variants with each other, not a
prediction of microcontroller latency (measure that on the board; MACs are a better
proxy across devices). Before running a file in this process, :func:`check_loads` runs it
once in a child process, so a corrupt file that crashes the interpreter cannot take the
notebook or the command down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import DataError, ModelFileError
from tinyml_utils.tflite._child import child_env
from tinyml_utils.tflite.interpreters import ModelLike, _prepare_input, load_model_bytes


@dataclass
class LatencyResult:
    """Timings in milliseconds; see the module docstring."""

    threads: int
    runs: int
    warmup: int
    kernels: str
    init_ms: float
    first_ms: float
    warmup_mean_ms: float
    mean_ms: float
    median_ms: float
    p90_ms: float
    std_ms: float
    min_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


_CHECKED: dict[bytes, str | None] = {}


def check_loads(model: ModelLike, timeout: float = 120.0) -> str | None:
    """None when ai_edge_litert loads and invokes the model in a child process; else why not.

    The answer is cached per model bytes.
    """
    data = load_model_bytes(model)
    import hashlib

    key = hashlib.sha256(data).digest()
    if key in _CHECKED:
        return _CHECKED[key]
    with tempfile.TemporaryDirectory(prefix="litert_probe_") as tmp:
        path = os.path.join(tmp, "model.tflite")
        Path(path).write_bytes(data)
        cmd = [sys.executable, "-m", "tinyml_utils.tflite._litert_probe", path]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=child_env()
            )
        except subprocess.TimeoutExpired:
            _CHECKED[key] = f"the TFLite interpreter did not finish within {timeout:.0f} s"
            return _CHECKED[key]
    answer: str | None = None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        answer = f"the TFLite interpreter crashed on this file ({how})"
    else:
        result = json.loads(lines[-1])
        if not result.get("ok"):
            answer = " ".join(str(result.get("error", "unknown error")).split())[:500]
    _CHECKED[key] = answer
    return answer


def _example_input(detail: dict, x: np.ndarray | None) -> np.ndarray:
    """The first sample of ``x`` (typed like the input), or zeros like the load check used."""

    if x is not None:
        return _prepare_input(np.asarray(x)[:1], detail)
    shape = [max(1, int(d)) for d in detail["shape"]]
    return np.zeros(shape, dtype=detail["dtype"])


def measure_latency(
    model: ModelLike,
    runs: int = 50,
    warmup: int = 10,
    threads: int = 1,
    x: np.ndarray | None = None,
    kernels: str = "optimized",
) -> LatencyResult:
    """Time ``model`` in ai_edge_litert; ``x`` (optional) gives a real first input sample.

    Raises :class:`~tinyml_utils.core.errors.ModelFileError` when the interpreter cannot load it.
    Call :func:`check_loads` first for files you do not trust.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if runs < 1 or warmup < 0 or threads < 1:
        raise DataError("runs and threads must be >= 1 and warmup >= 0.")
    resolvers = {"optimized": OpResolverType.AUTO, "reference": OpResolverType.BUILTIN_REF}
    data = load_model_bytes(model)
    t0 = time.perf_counter()
    try:
        interpreter = Interpreter(
            model_content=data,
            num_threads=threads,
            experimental_op_resolver_type=resolvers[kernels],
        )
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ModelFileError(f"TFLite could not load the model: {exc}") from exc
    init = time.perf_counter() - t0
    details = interpreter.get_input_details()
    inputs = [_example_input(d, x if len(details) == 1 else None) for d in details]

    def once() -> float:
        start = time.perf_counter()
        for d, value in zip(details, inputs, strict=True):
            interpreter.set_tensor(d["index"], value)
        interpreter.invoke()
        return time.perf_counter() - start

    first = once()
    warm = [once() for _ in range(warmup)]
    times = np.array([once() for _ in range(runs)]) * 1000.0
    return LatencyResult(
        threads=threads,
        runs=runs,
        warmup=warmup,
        kernels=kernels,
        init_ms=init * 1000.0,
        first_ms=first * 1000.0,
        warmup_mean_ms=float(np.mean(warm) * 1000.0) if warm else float("nan"),
        mean_ms=float(times.mean()),
        median_ms=float(np.median(times)),
        p90_ms=float(np.percentile(times, 90)),
        std_ms=float(times.std()),
        min_ms=float(times.min()),
    )
