"""The outputs generated C code must reproduce, and how to compare with them.

TensorFlow Lite has several int8 arithmetics, and they do not always agree in the last bit:

* the **reference kernels** (ai_edge_litert's ``BUILTIN_REF`` op resolver): gemmlowp-style
  fixed point (``MultiplyByQuantizedMultiplier``), plus double-precision requantization for
  per-channel FULLY_CONNECTED. TensorFlow Lite Micro runs the same arithmetic, so these are
  the outputs a microcontroller gives, and what :mod:`~tinyml_utils.deploy.codegen` matches
  bit for bit.
* the **default interpreter** (optimized kernels + the XNNPACK delegate, what an app on a
  phone or PC gets): ruy's single-rounding multiply and float requantization; now and then
  1 off from the reference.

Both come from :class:`tinyml_utils.tflite.interpreters.TFLiteRunner` (``kernels=
"reference"`` / ``"optimized"``): this module only adds the raw-int8 view the C code needs.
:func:`reference_outputs` runs the reference kernels on int8 inputs; :func:`compare` checks
generated outputs against them (exactly, or within 1 with the same top-1 for
SOFTMAX/LOGISTIC outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.tflite.interpreters import ModelLike, TFLiteRunner, quantize

#: ``kind`` of :func:`reference_outputs` -> ``TFLiteRunner(kernels=...)``.
KINDS = {"reference": "reference", "xnnpack": "optimized", "optimized": "optimized"}


def _runner(model: ModelLike, kind: str = "reference") -> TFLiteRunner:
    if kind not in KINDS:
        raise DataError(f"kind must be one of {sorted(KINDS)}, got {kind!r}.")
    return TFLiteRunner(model, kernels=KINDS[kind])


def quantize_input(model: ModelLike, x: np.ndarray) -> np.ndarray:
    """Float model inputs -> int8 as the model's input quantization says (N, *shape)."""
    scale, zp = _runner(model).input_detail["quantization"]
    return quantize(np.asarray(x, np.float32), np.int8, scale, zp)


def reference_outputs(model: ModelLike, x_int8: np.ndarray, kind: str = "reference") -> np.ndarray:
    """Raw int8 outputs (N, output_size) of ai_edge_litert for int8 inputs ``x_int8``.

    ``kind``: "reference" (TFLite reference kernels = TFLM arithmetic) or "xnnpack" (alias
    "optimized": the default interpreter, ``TFLiteRunner(model)``).
    """
    runner = _runner(model, kind)
    d, o = runner.input_detail, runner.output_detail
    shape = tuple(int(s) for s in d["shape"][1:])
    x = np.asarray(x_int8, np.int8).reshape((-1,) + shape)
    out = [runner.invoke_one(sample[None]).reshape(-1) for sample in x]
    return np.stack(out) if out else np.zeros((0, int(np.prod(o["shape"][1:]))), np.int8)


@dataclass
class Comparison:
    """Generated outputs vs reference outputs.

    Attributes:
        n: inputs compared.
        equal_bytes / total_bytes: output bytes that are identical.
        max_abs_diff: largest difference of one output byte.
        top1_agree: inputs whose argmax is the same.
        tolerance: 0 (exact) or 1 (SOFTMAX/LOGISTIC outputs).
    """

    n: int
    equal_bytes: int
    total_bytes: int
    max_abs_diff: int
    top1_agree: int
    tolerance: int

    @property
    def ok(self) -> bool:
        if self.tolerance == 0:
            return self.equal_bytes == self.total_bytes
        return self.max_abs_diff <= self.tolerance and self.top1_agree == self.n

    def summary(self) -> str:
        return (
            f"{self.n} inputs: {self.equal_bytes}/{self.total_bytes} output bytes identical, "
            f"max |diff| {self.max_abs_diff}, same top-1 {self.top1_agree}/{self.n} -> "
            + ("OK" if self.ok else "MISMATCH")
        )


def compare(generated: np.ndarray, reference: np.ndarray, tolerance: int = 0) -> Comparison:
    """Compare (N, K) int8 arrays; ``tolerance`` 1 allows off-by-one with the same top-1."""
    g = np.asarray(generated, np.int64).reshape(len(generated), -1)
    r = np.asarray(reference, np.int64).reshape(len(reference), -1)
    if g.shape != r.shape:
        raise ValueError(f"shapes differ: generated {g.shape}, reference {r.shape}")
    diff = np.abs(g - r)
    return Comparison(
        n=len(g),
        equal_bytes=int((diff == 0).sum()),
        total_bytes=int(diff.size),
        max_abs_diff=int(diff.max()) if diff.size else 0,
        top1_agree=int((g.argmax(1) == r.argmax(1)).sum()) if g.size else 0,
        tolerance=tolerance,
    )
