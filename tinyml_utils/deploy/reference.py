"""The outputs generated C code must reproduce, and how to compare with them.

TensorFlow Lite has three int8 arithmetics, and they do not always agree in the last bit:

* the **reference kernels** (``OpResolverType.BUILTIN_REF`` in ai_edge_litert): gemmlowp-style
  fixed point (``MultiplyByQuantizedMultiplier``), plus double-precision requantization for
  per-channel FULLY_CONNECTED. TensorFlow Lite Micro runs the same arithmetic, so these are
  the outputs a microcontroller gives, and what :mod:`~tinyml_utils.deploy.codegen` matches
  bit for bit.
* the **optimized built-in kernels** (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``): ruy's
  single-rounding multiply; occasionally 1 off from the reference.
* the **XNNPACK delegate**, which ai_edge_litert applies by default (``TFLiteRunner``): float
  requantization; more often 1 off.

:func:`reference_outputs` runs the first; :func:`compare` checks generated outputs against
it (exactly, or within 1 with the same top-1 for SOFTMAX/LOGISTIC outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml_utils.analyze.interpreters import ModelLike, load_model_bytes, quantize


def _interpreter(model: ModelLike, kind: str = "reference"):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {
        "reference": OpResolverType.BUILTIN_REF,
        "optimized": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "xnnpack": OpResolverType.AUTO,
    }[kind]
    it = Interpreter(model_content=load_model_bytes(model), experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    return it


def quantize_input(model: ModelLike, x: np.ndarray) -> np.ndarray:
    """Float model inputs -> int8 as the model's input quantization says (N, *shape)."""
    it = _interpreter(model)
    d = it.get_input_details()[0]
    scale, zp = d["quantization"]
    return quantize(np.asarray(x, np.float32), np.int8, scale, zp)


def reference_outputs(model: ModelLike, x_int8: np.ndarray, kind: str = "reference") -> np.ndarray:
    """Raw int8 outputs (N, output_size) of ai_edge_litert for int8 inputs ``x_int8``.

    ``kind``: "reference" (TFLite reference kernels = TFLM arithmetic), "optimized" or
    "xnnpack" (the default interpreter, as used by ``TFLiteRunner``).
    """
    it = _interpreter(model, kind)
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    shape = tuple(int(s) for s in d["shape"][1:])
    x = np.asarray(x_int8, np.int8).reshape((-1,) + shape)
    out = []
    for sample in x:
        it.set_tensor(d["index"], sample[None])
        it.invoke()
        out.append(it.get_tensor(o["index"]).reshape(-1).copy())
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
