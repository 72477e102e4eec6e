"""Reading a .tflite file happens here; every other stage asks this module.

The flatbuffer schema comes from the tflite-micro package (``schema_py_generated``), so
the workbook reads models with the same schema the TFLM runtime was built with.
"""

from __future__ import annotations

from typing import Any

from tinyml_utils.analyze.interpreters import ModelLike, load_model_bytes
from tinyml_utils.errors import ModelFileError


def schema():
    """The generated flatbuffer schema module (BuiltinOperator, TensorType, ModelT...)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def load_model_object(model: ModelLike) -> Any:
    """The whole model as the schema's object API (``ModelT``), after validating the file."""
    data = load_model_bytes(model)
    schema_fb = schema()
    try:
        root = schema_fb.Model.GetRootAsModel(data, 0)
        return schema_fb.ModelT.InitFromObj(root)
    except Exception as exc:  # flatbuffers raises assorted low-level errors on corrupt data
        raise ModelFileError(
            f"the file is not a valid TFLite model (corrupt or truncated flatbuffer: "
            f"{type(exc).__name__}: {exc}). Re-export the .tflite file."
        ) from exc


def builtin_op_names() -> dict[int, str]:
    """BuiltinOperator code -> name (e.g. 3 -> 'CONV_2D')."""
    ops = schema().BuiltinOperator
    return {getattr(ops, n): n for n in dir(ops) if not n.startswith("_")}


def op_name(model_obj: Any, opcode_index: int) -> str:
    """Name of an operator code: builtin name, or 'CUSTOM:<name>' (Flex ops start with Flex)."""
    code = model_obj.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    name = builtin_op_names().get(builtin, f"UNKNOWN_{builtin}")
    if name == "CUSTOM":
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return name


def tensor_type_names() -> dict[int, str]:
    """TensorType code -> name (e.g. 9 -> 'INT8')."""
    types = schema().TensorType
    return {getattr(types, n): n for n in dir(types) if not n.startswith("_")}
