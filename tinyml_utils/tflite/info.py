"""What a .tflite file holds, as plain dataclasses: :class:`ModelInfo` (ops, tensors,
buffers, op codes), built by :func:`tinyml_utils.tflite.reader.model_info`, plus the schema's
enum names. The benchmark, the memory planner and the C code generator build on these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- schema helpers


def schema():
    """The generated flatbuffer schema module (BuiltinOperator, TensorType, ModelT...)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def enum_names(enum_cls: Any) -> dict[int, str]:
    return {getattr(enum_cls, n): n for n in dir(enum_cls) if not n.startswith("_")}


@cache
def builtin_op_names() -> dict[int, str]:
    """BuiltinOperator code -> name (e.g. 3 -> 'CONV_2D')."""
    return enum_names(schema().BuiltinOperator)


@cache
def tensor_type_names() -> dict[int, str]:
    """TensorType code -> name (e.g. 9 -> 'INT8')."""
    return enum_names(schema().TensorType)


def op_name(model_obj: Any, opcode_index: int) -> str:
    """Name of an operator code: builtin name, or 'CUSTOM:<name>' (Flex ops start with Flex)."""
    code = model_obj.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    name = builtin_op_names().get(builtin, f"UNKNOWN_{builtin}")
    if name == "CUSTOM":
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return name


# ----------------------------------------------------------------------------- dtypes

#: TensorType name -> (numpy-style dtype name, bits per element). ``bits`` is 0 for types
#: without a fixed size (string, resource, variant).
DTYPES: dict[str, tuple[str, int]] = {
    "FLOAT32": ("float32", 32),
    "FLOAT16": ("float16", 16),
    "INT32": ("int32", 32),
    "UINT8": ("uint8", 8),
    "INT64": ("int64", 64),
    "STRING": ("string", 0),
    "BOOL": ("bool", 8),
    "INT16": ("int16", 16),
    "COMPLEX64": ("complex64", 64),
    "INT8": ("int8", 8),
    "FLOAT64": ("float64", 64),
    "COMPLEX128": ("complex128", 128),
    "UINT64": ("uint64", 64),
    "RESOURCE": ("resource", 0),
    "VARIANT": ("variant", 0),
    "UINT32": ("uint32", 32),
    "UINT16": ("uint16", 16),
    "INT4": ("int4", 4),
    "BFLOAT16": ("bfloat16", 16),
    "INT2": ("int2", 2),
    "UINT4": ("uint4", 4),
    "FLOAT8_E4M3FN": ("float8_e4m3fn", 8),
    "FLOAT8_E5M2": ("float8_e5m2", 8),
}

_NUMPY_DTYPES = {
    "float32": "<f4",
    "float16": "<f2",
    "int32": "<i4",
    "uint8": "u1",
    "int64": "<i8",
    "bool": "?",
    "int16": "<i2",
    "complex64": "<c8",
    "int8": "i1",
    "float64": "<f8",
    "complex128": "<c16",
    "uint64": "<u8",
    "uint32": "<u4",
    "uint16": "<u2",
}


def tensor_nbytes(shape: tuple[int, ...], dtype: str) -> int:
    """Bytes of a dense tensor: ``prod(shape) * itemsize`` (sub-byte types packed, rounded up)."""
    bits = next((b for name, b in DTYPES.values() if name == dtype), 0)
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    return (n * bits + 7) // 8


# ----------------------------------------------------------------------------- dataclasses


@dataclass
class TensorInfo:
    """One tensor of a subgraph.

    Attributes:
        index: position in the subgraph's tensor list (what ops' inputs/outputs refer to).
        name: the converter's name (often the Keras layer path).
        shape: dimensions (batch first); ``shape_signature`` keeps -1 for dynamic dims.
        dtype: numpy-style name ("float32", "int8", "float16", "int4", ...).
        buffer: index into :attr:`ModelInfo.buffers`; buffer 0 is the empty sentinel.
        is_constant: the tensor's data is stored in the file (weights, biases, shapes).
        is_variable: a state tensor (e.g. RNN state) kept between invocations.
        scales, zero_points: affine quantization ``real = scale * (q - zero_point)``; one
            entry per tensor, or one per channel along ``quantized_dimension``; empty when
            the tensor is not quantized.
        producer: index of the op that writes the tensor (None for inputs and constants).
        consumers: indices of the ops that read it.
        is_input, is_output: listed in the subgraph's inputs/outputs.
        sparse: the tensor carries sparsity metadata (data not dense).
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    type_code: int
    buffer: int
    is_constant: bool
    is_variable: bool = False
    shape_signature: tuple[int, ...] | None = None
    scales: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    zero_points: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    quantized_dimension: int = 0
    producer: int | None = None
    consumers: list[int] = field(default_factory=list)
    is_input: bool = False
    is_output: bool = False
    sparse: bool = False
    _model: ModelInfo | None = field(default=None, repr=False, compare=False)

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= max(int(d), 0)
        return n

    @property
    def nbytes(self) -> int:
        """Dense size in bytes: prod(shape) * itemsize (what a planner must reserve)."""
        return tensor_nbytes(self.shape, self.dtype)

    @property
    def quantized(self) -> bool:
        return len(self.scales) > 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def kind(self) -> str:
        """ "input", "output", "weight" (constant), "variable" or "activation"."""
        if self.is_input:
            return "input"
        if self.is_output:
            return "output"
        if self.is_constant:
            return "weight"
        if self.is_variable:
            return "variable"
        return "activation"

    def quantization_text(self) -> str:
        """ "scale=0.0039 zp=-128", "per-channel x8 (axis 0): scale 0.001..0.02", or ""."""
        if not self.quantized:
            return ""
        if not self.per_channel:
            return f"scale={float(self.scales[0]):.6g} zp={int(self.zero_points[0])}"
        lo, hi = float(np.min(self.scales)), float(np.max(self.scales))
        zlo, zhi = int(np.min(self.zero_points)), int(np.max(self.zero_points))
        zp = f"zp {zlo}" if zlo == zhi else f"zp {zlo}..{zhi}"
        return (
            f"per-channel x{len(self.scales)} (axis {self.quantized_dimension}): "
            f"scale {lo:.3g}..{hi:.3g}, {zp}"
        )

    def data(self) -> np.ndarray | None:
        """The constant's values as a numpy array of ``shape`` (None for activations)."""
        if not self.is_constant or self._model is None:
            return None
        raw = self._model.buffer_bytes(self.buffer)
        if self.dtype in ("int4", "uint4"):
            b = np.frombuffer(raw, np.uint8)
            lo, hi = (b & 0x0F).astype(np.int16), (b >> 4).astype(np.int16)
            vals = np.stack([lo, hi], axis=1).reshape(-1)[: self.num_elements]
            if self.dtype == "int4":
                vals = np.where(vals > 7, vals - 16, vals)
            return vals.astype(np.int8).reshape(self.shape)
        np_dtype = _NUMPY_DTYPES.get(self.dtype)
        if np_dtype is None:
            return np.frombuffer(raw, np.uint8).copy()
        arr = np.frombuffer(raw, np_dtype)
        if arr.size == self.num_elements:
            return arr.reshape(self.shape).copy()
        return arr.copy()


@dataclass
class OpInfo:
    """One operator (node) of a subgraph, in execution order.

    Attributes:
        index: execution position (TFLite and TFLM run ops in this order).
        name: builtin name ("CONV_2D") or "CUSTOM:<code>" (Flex ops: "CUSTOM:Flex...").
        builtin_code: BuiltinOperator value (32 = CUSTOM).
        custom_code: the custom op name, or None for builtins.
        version: operator version (kernels must support it; TFLM registers by builtin code).
        inputs, outputs: tensor indices; -1 marks an omitted optional input.
        intermediates: tensor indices used internally (LSTM).
        options_type: e.g. "Conv2DOptions" (None when the op has no options).
        options: the options decoded as a dict with snake_case keys; enums as names
            (``{"padding": "SAME", "stride_w": 1, "fused_activation_function": "RELU"}``).
        custom_options: raw custom options bytes (custom ops).
    """

    index: int
    opcode_index: int
    name: str
    builtin_code: int
    custom_code: str | None
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    intermediates: tuple[int, ...] = ()
    options_type: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    custom_options: bytes = b""


@dataclass
class BufferInfo:
    """A data buffer: where its bytes are in the file (``offset``, ``size``; 0/0 if empty)."""

    index: int
    offset: int
    size: int


@dataclass
class OpCodeInfo:
    """An entry of the model's operator-code table (ops refer to it by ``opcode_index``)."""

    index: int
    builtin_code: int
    name: str
    custom_code: str | None
    version: int


@dataclass
class SubgraphInfo:
    """A subgraph: tensors, ops in execution order, input and output tensor indices."""

    index: int
    name: str
    tensors: list[TensorInfo]
    ops: list[OpInfo]
    inputs: list[int]
    outputs: list[int]


@dataclass
class ModelInfo:
    """Everything in a .tflite file, validated; see the module docstring.

    ``ops``, ``tensors``, ``inputs`` and ``outputs`` are those of subgraph 0, the one the
    interpreters run (others are bodies of control-flow ops such as WHILE/IF).
    """

    data: bytes = field(repr=False)
    version: int
    description: str
    opcodes: list[OpCodeInfo]
    subgraphs: list[SubgraphInfo]
    buffers: list[BufferInfo]
    metadata: dict[str, int] = field(default_factory=dict)
    signature_keys: list[str] = field(default_factory=list)

    @property
    def ops(self) -> list[OpInfo]:
        return self.subgraphs[0].ops

    @property
    def tensors(self) -> list[TensorInfo]:
        return self.subgraphs[0].tensors

    @property
    def inputs(self) -> list[int]:
        return self.subgraphs[0].inputs

    @property
    def outputs(self) -> list[int]:
        return self.subgraphs[0].outputs

    @property
    def file_bytes(self) -> int:
        return len(self.data)

    def tensor(self, key: int | str) -> TensorInfo:
        """A tensor of subgraph 0 by index or name."""
        if isinstance(key, int):
            return self.tensors[key]
        for t in self.tensors:
            if t.name == key:
                return t
        raise KeyError(key)

    def buffer_bytes(self, index: int) -> bytes:
        b = self.buffers[index]
        return self.data[b.offset : b.offset + b.size]

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts

    def constant_tensors(self) -> list[TensorInfo]:
        return [t for t in self.tensors if t.is_constant]

    def activation_tensors(self) -> list[TensorInfo]:
        """Tensors the runtime must place in RAM: inputs, outputs and intermediate results."""
        return [t for t in self.tensors if not t.is_constant and not t.is_variable]

    # -- tables ----------------------------------------------------------------------
    def ops_table(self):
        """DataFrame: op name, version, count (the "ops used" table)."""
        import pandas as pd

        rows: dict[tuple[str, int], int] = {}
        for op in self.ops:
            rows[(op.name, op.version)] = rows.get((op.name, op.version), 0) + 1
        return pd.DataFrame(
            [{"op": n, "version": v, "count": c} for (n, v), c in rows.items()],
            columns=["op", "version", "count"],
        )

    def ops_frame(self):
        """DataFrame: one row per op (index, name, version, inputs, outputs, options)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "index": op.index,
                    "op": op.name,
                    "version": op.version,
                    "inputs": list(op.inputs),
                    "outputs": list(op.outputs),
                    "options": _options_text(op.options),
                }
                for op in self.ops
            ],
            columns=["index", "op", "version", "inputs", "outputs", "options"],
        )

    def tensors_frame(self):
        """DataFrame: one row per tensor of subgraph 0 (the "every tensor" table)."""
        import pandas as pd

        rows = []
        for t in self.tensors:
            rows.append(
                {
                    "index": t.index,
                    "name": t.name,
                    "shape": "x".join(str(d) for d in t.shape) or "scalar",
                    "dtype": t.dtype,
                    "kind": t.kind,
                    "bytes": t.nbytes,
                    "quantization": t.quantization_text(),
                    "n_scales": len(t.scales),
                    "producer": "" if t.producer is None else self._op_label(t.producer),
                    "consumers": ", ".join(self._op_label(i) for i in t.consumers),
                }
            )
        cols = [
            "index",
            "name",
            "shape",
            "dtype",
            "kind",
            "bytes",
            "quantization",
            "n_scales",
            "producer",
            "consumers",
        ]
        return pd.DataFrame(rows, columns=cols)

    @property
    def weights_bytes(self) -> int:
        """Bytes of all constant tensors (weights, biases, shape constants): their flash."""
        return int(sum(t.nbytes for t in self.constant_tensors()))

    def weights_frame(self):
        """DataFrame: constants grouped by dtype: tensors, weights (elements), bytes."""
        import pandas as pd

        rows: dict[str, list[int]] = {}
        for t in self.constant_tensors():
            r = rows.setdefault(t.dtype, [0, 0, 0])
            r[0] += 1
            r[1] += t.num_elements
            r[2] += t.nbytes
        return pd.DataFrame(
            [
                {"dtype": k, "tensors": v[0], "weights": v[1], "bytes": v[2]}
                for k, v in rows.items()
            ],
            columns=["dtype", "tensors", "weights", "bytes"],
        )

    def _op_label(self, i: int) -> str:
        return f"{i}:{self.ops[i].name}" if 0 <= i < len(self.ops) else str(i)


def _options_text(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())


# ----------------------------------------------------------------------------- the reader
