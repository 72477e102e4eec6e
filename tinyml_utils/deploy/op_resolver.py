"""The ``MicroMutableOpResolver`` a TFLM sketch needs: exactly the model's ops, no more.

TFLM links only the kernels you register. ``AllOpsResolver`` registers every kernel (flash
cost: hundreds of KB); a ``MicroMutableOpResolver<N>`` with one ``AddXxx()`` call per op the
model uses keeps the firmware small, and fails at start-up with "Didn't find op for builtin
opcode ..." if one is missing. :func:`resolver_code` writes that code from the model file::

    from tinyml_utils.deploy.op_resolver import model_ops, resolver_code
    model_ops("model_int8.tflite")     # ['CONV_2D', 'MAX_POOL_2D', 'RESHAPE', ...]
    print(resolver_code("model_int8.tflite"))
"""

from __future__ import annotations

from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.tflite.interpreters import ModelLike
from tinyml_utils.tflite.ops import resolver_method
from tinyml_utils.tflite.reader import model_info


def method_name(op: str) -> str:
    """``"FULLY_CONNECTED"`` -> ``"AddFullyConnected"`` (:func:`tinyml_utils.tflite.ops.resolver_method`);
    an op TFLM has no kernel for is an :class:`UnsupportedOnMicroError` that says what to do."""
    method = resolver_method(op)
    if method is not None:
        return method
    if op.startswith("CUSTOM:"):
        raise UnsupportedOnMicroError(
            f"custom op {op[7:]!r} has no TFLM kernel: register your own implementation with "
            "op_resolver.AddCustom(name, registration), or convert without custom ops."
        )
    raise UnsupportedOnMicroError(
        f"op {op} has no TFLM kernel: `tinyml diagnose MODEL` says which layer makes it and "
        "what to use instead."
    )


def model_ops(model: ModelLike) -> list[str]:
    """The distinct ops of subgraph 0, in order of first use."""
    seen: list[str] = []
    for op in model_info(model).ops:
        if op.name not in seen:
            seen.append(op.name)
    return seen


def resolver_methods(model: ModelLike) -> list[str]:
    """One ``AddXxx`` method per distinct op of the model."""
    return [method_name(op) for op in model_ops(model)]


def resolver_code(model: ModelLike, variable: str = "op_resolver", indent: str = "  ") -> str:
    """C++ declaring ``static tflite::MicroMutableOpResolver<N> op_resolver;`` and a
    ``RegisterOps()`` function calling one ``AddXxx()`` per op (returns kTfLiteError if one
    fails)."""
    ops = model_ops(model)
    lines = [
        f"// The model's {len(ops)} op kinds: {', '.join(ops)}",
        f"static tflite::MicroMutableOpResolver<{len(ops)}> {variable};",
        "",
        "static TfLiteStatus RegisterOps() {",
    ]
    for op in ops:
        lines.append(
            f"{indent}if ({variable}.{method_name(op)}() != kTfLiteOk) return kTfLiteError;"
        )
    lines += [f"{indent}return kTfLiteOk;", "}"]
    return "\n".join(lines) + "\n"
