"""The one table from a .tflite op to the TFLM ``MicroMutableOpResolver`` method that
registers its kernel (tflite-micro's ``micro_mutable_op_resolver.h``).

Both :mod:`tinyml_utils.analyze.diagnose` (the resolver lines a model needs) and
:mod:`tinyml_utils.deploy.op_resolver` (the sketch's resolver) ask :func:`resolver_method`.
"""

from __future__ import annotations

from tinyml_utils.tflite.tflm import TFLM_BUILTIN_OPS

#: Builtin op -> resolver method, where the CamelCase of the op name is not the method.
METHOD_EXCEPTIONS: dict[str, str] = {
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}

#: Custom ops TFLM ships a kernel for -> the resolver method that registers it.
CUSTOM_METHODS: dict[str, str] = {
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
    "ETHOSU": "AddEthosU",
}


def resolver_method(op: str) -> str | None:
    """``"CONV_2D"`` -> ``"AddConv2D"``, ``"RELU_N1_TO_1"`` -> ``"AddReluN1To1"``,
    ``"CUSTOM:TFLite_Detection_PostProcess"`` -> ``"AddDetectionPostprocess"``; None for
    an op TFLM has no kernel for."""
    if op.startswith("CUSTOM:"):
        return CUSTOM_METHODS.get(op.split(":", 1)[1])
    if op not in TFLM_BUILTIN_OPS:
        return None
    if op in METHOD_EXCEPTIONS:
        return METHOD_EXCEPTIONS[op]
    parts = [p.upper() if p[0].isdigit() else p.capitalize() for p in op.split("_")]
    return "Add" + "".join(parts)
