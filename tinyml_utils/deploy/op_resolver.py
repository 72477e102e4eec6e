"""The ``MicroMutableOpResolver`` a TFLM sketch needs: exactly the model's ops, no more.

TFLM links only the kernels you register. Registering every op (what the removed
``AllOpsResolver`` did) puts about 380 KB of kernels in flash with CMSIS-NN
(benchmarks/mcu/sketch_flash.md); a ``MicroMutableOpResolver<N>`` with one ``AddXxx()`` call
per op the model uses keeps the firmware small, and fails at start-up with "Didn't find op for builtin
opcode ..." if one is missing. :func:`resolver_code` writes that code from the model file::

    from tinyml_utils.deploy.op_resolver import model_ops, resolver_code
    model_ops("model_int8.tflite")     # ['CONV_2D', 'MAX_POOL_2D', 'RESHAPE', ...]
    print(resolver_code("model_int8.tflite"))

For a fully int8 model the code registers the int8-only kernel variants where TFLM has them
(``AddFullyConnected(tflite::Register_FULLY_CONNECTED_INT8())``): with CMSIS-NN the default
registrations also link the int16 and int4 code paths (4.7-22 KB of flash for the workbook's
sketches, benchmarks/mcu/sketch_flash.md); with the reference kernels the two are the
same function.
"""

from __future__ import annotations

from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.tflite.interpreters import ModelLike
from tinyml_utils.tflite.ops import resolver_method
from tinyml_utils.tflite.reader import model_info

#: int8-only registrations TFLM declares in kernels/<op>.h
INT8_REGISTRATIONS = {
    "CONV_2D": "Register_CONV_2D_INT8",
    "DEPTHWISE_CONV_2D": "Register_DEPTHWISE_CONV_2D_INT8",
    "MAX_POOL_2D": "Register_MAX_POOL_2D_INT8",
    "AVERAGE_POOL_2D": "Register_AVERAGE_POOL_2D_INT8",
    "FULLY_CONNECTED": "Register_FULLY_CONNECTED_INT8",
    "SOFTMAX": "Register_SOFTMAX_INT8",
}
INT8_HEADERS = {
    "CONV_2D": "conv.h",
    "DEPTHWISE_CONV_2D": "depthwise_conv.h",
    "MAX_POOL_2D": "pooling.h",
    "AVERAGE_POOL_2D": "pooling.h",
    "FULLY_CONNECTED": "fully_connected.h",
    "SOFTMAX": "softmax.h",
}


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


def is_int8_model(model: ModelLike) -> bool:
    """True when every tensor a kernel computes is integer (int8 activations, int32 biases):
    the model a full-int8 conversion makes, which the int8-only kernels can run."""
    sub = model_info(model).subgraphs[0]
    return all(t.dtype in ("int8", "int32", "int64") for t in sub.tensors)


def registration(op: str, int8: bool) -> tuple[str | None, str]:
    """(the kernel header to include or None, the ``AddXxx(...)`` call) registering ``op``."""
    if int8 and op in INT8_REGISTRATIONS:
        header = f'#include "tensorflow/lite/micro/kernels/{INT8_HEADERS[op]}"'
        return header, f"{method_name(op)}(tflite::{INT8_REGISTRATIONS[op]}())"
    return None, f"{method_name(op)}()"


def resolver_code(
    model: ModelLike,
    variable: str = "op_resolver",
    indent: str = "  ",
    int8: bool | None = None,
) -> str:
    """C++ declaring ``static tflite::MicroMutableOpResolver<N> op_resolver;`` and a
    ``RegisterOps()`` function calling one ``AddXxx()`` per op (returns kTfLiteError if one
    fails). ``int8`` (default: whether the model is fully int8) registers the int8-only
    kernels and includes their headers."""
    ops = model_ops(model)
    int8 = is_int8_model(model) if int8 is None else int8
    regs = [registration(op, int8) for op in ops]
    headers = sorted({h for h, _ in regs if h})
    lines = [f"// The model's {len(ops)} op kinds: {', '.join(ops)}"]
    if headers:
        lines += ["// int8-only kernels (no int16 / int4 code linked in):", *headers]
    lines += [
        f"static tflite::MicroMutableOpResolver<{len(ops)}> {variable};",
        "",
        "static TfLiteStatus RegisterOps() {",
    ]
    for _, call in regs:
        lines.append(f"{indent}if ({variable}.{call} != kTfLiteOk) return kTfLiteError;")
    lines += [f"{indent}return kTfLiteOk;", "}"]
    return "\n".join(lines) + "\n"
