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
from tinyml_utils.tflite.reader import model_info

#: Builtin op name -> MicroMutableOpResolver method (tflite-micro's micro_mutable_op_resolver.h)
#: where the name is not the plain CamelCase of the op name.
SPECIAL_METHODS: dict[str, str] = {
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "MAX_POOL_2D": "AddMaxPool2D",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "L2_POOL_2D": "AddL2Pool2D",
    "RELU6": "AddRelu6",
    "RELU_N1_TO_1": "AddReluN1To1",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "GATHER_ND": "AddGatherNd",
    "PADV2": "AddPadV2",
    "SELECT_V2": "AddSelectV2",
    "REVERSE_V2": "AddReverseV2",
    "SVDF": "AddSvdf",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "L2_NORMALIZATION": "AddL2Normalization",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "ADD_N": "AddAddN",
    "CUSTOM:TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "CUSTOM:ETHOSU": "AddEthosU",
    "CUSTOM:CIRCULAR_BUFFER": "AddCircularBuffer",
}


def method_name(op: str) -> str:
    """``"FULLY_CONNECTED"`` -> ``"AddFullyConnected"`` (see :data:`SPECIAL_METHODS`)."""
    if op in SPECIAL_METHODS:
        return SPECIAL_METHODS[op]
    if op.startswith("CUSTOM:"):
        raise UnsupportedOnMicroError(
            f"custom op {op[7:]!r} has no TFLM kernel: register your own implementation with "
            "op_resolver.AddCustom(name, registration), or convert without custom ops."
        )
    return "Add" + "".join(part.capitalize() for part in op.split("_"))


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
