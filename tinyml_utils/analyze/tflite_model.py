"""Reading a .tflite file happens here; every other stage asks this module.

A .tflite file is a FlatBuffer: a tree of tables (Model -> SubGraph -> Operator / Tensor,
Model -> Buffer) addressed by 32-bit offsets inside one byte string. Two ways to read it:

* :func:`model_info` -> :class:`ModelInfo`: the workbook's own, bounds-checked reader. Every
  offset and vector length is checked against the file size before it is followed, so a
  truncated or corrupt file raises :class:`~tinyml_utils.errors.ModelFileError` instead of
  looping, allocating gigabytes or crashing. It returns plain dataclasses (ops with their
  decoded options, tensors with shapes/quantization/producer/consumers, buffers with their
  file offsets) that the benchmark, the memory planner and the C code generator build on.
* :func:`load_model_object` -> the schema's object API (``ModelT``), for code that wants the
  raw generated classes. It runs :func:`model_info`'s validation first.

The flatbuffer schema comes from the tflite-micro package (``schema_py_generated``), so the
workbook reads models with the same schema the TFLM runtime was built with::

    from tinyml_utils.analyze.tflite_model import model_info
    info = model_info("model_int8.tflite")
    info.ops_frame()          # one row per operator: name, version, inputs, outputs, options
    info.tensors_frame()      # one row per tensor: shape, dtype, quantization, bytes, producer
    info.op_counts()          # op name -> count
    info.tensor(3).data()     # a weight tensor as a numpy array
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from tinyml_utils.analyze.interpreters import ModelLike, load_model_bytes
from tinyml_utils.errors import ModelFileError

# ----------------------------------------------------------------------------- schema helpers


def schema():
    """The generated flatbuffer schema module (BuiltinOperator, TensorType, ModelT...)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _enum_names(enum_cls: Any) -> dict[int, str]:
    return {getattr(enum_cls, n): n for n in dir(enum_cls) if not n.startswith("_")}


@cache
def builtin_op_names() -> dict[int, str]:
    """BuiltinOperator code -> name (e.g. 3 -> 'CONV_2D')."""
    return _enum_names(schema().BuiltinOperator)


@cache
def tensor_type_names() -> dict[int, str]:
    """TensorType code -> name (e.g. 9 -> 'INT8')."""
    return _enum_names(schema().TensorType)


def load_model_object(model: ModelLike) -> Any:
    """The whole model as the schema's object API (``ModelT``), after validating the file."""
    data = load_model_bytes(model)
    model_info(data)  # bounds-checked walk first: the generated reader trusts every offset
    schema_fb = schema()
    try:
        root = schema_fb.Model.GetRootAsModel(data, 0)
        return schema_fb.ModelT.InitFromObj(root)
    except Exception as exc:  # flatbuffers raises assorted low-level errors on corrupt data
        raise ModelFileError(
            f"the file is not a valid TFLite model (corrupt or truncated flatbuffer: "
            f"{type(exc).__name__}: {exc}). Re-export the .tflite file."
        ) from exc


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


class _Reader:
    """Bounds-checked access to a flatbuffer: every read is checked against the file size."""

    def __init__(self, data: bytes):
        self.data = data
        self.n = len(data)

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(
            f"the file is not a valid TFLite model: {what} (corrupt or truncated, "
            f"{self.n:,} bytes). Re-export or re-download the .tflite file."
        )

    def _check(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or pos + size > self.n:
            raise self.fail(f"{what} points outside the file (byte {pos:,})")

    def scalar(self, fmt: str, pos: int, what: str = "a field") -> Any:
        size = struct.calcsize(fmt)
        self._check(pos, size, what)
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int, what: str) -> _Table:
        self._check(pos, 4, what)
        vt = pos - struct.unpack_from("<i", self.data, pos)[0]
        self._check(vt, 4, f"{what}'s vtable")
        vt_len, obj_len = struct.unpack_from("<HH", self.data, vt)
        if vt_len < 4 or vt_len % 2:
            raise self.fail(f"{what} has a malformed vtable")
        self._check(vt, vt_len, f"{what}'s vtable")
        self._check(pos, max(obj_len, 4), what)
        return _Table(self, pos, vt, vt_len, obj_len, what)


class _Table:
    def __init__(self, r: _Reader, pos: int, vt: int, vt_len: int, obj_len: int, what: str):
        self.r, self.pos, self.vt, self.vt_len, self.obj_len, self.what = (
            r,
            pos,
            vt,
            vt_len,
            obj_len,
            what,
        )

    def _field(self, slot: int, size: int) -> int:
        """Absolute position of field ``slot`` (0 if absent); checked inside the object."""
        voff = 4 + 2 * slot
        if voff + 2 > self.vt_len:
            return 0
        off = struct.unpack_from("<H", self.r.data, self.vt + voff)[0]
        if off == 0:
            return 0
        if off + size > self.obj_len:
            raise self.r.fail(f"field {slot} of {self.what} lies outside its table")
        return self.pos + off

    def scalar(self, slot: int, fmt: str, default: Any) -> Any:
        p = self._field(slot, struct.calcsize(fmt))
        return default if p == 0 else struct.unpack_from(fmt, self.r.data, p)[0]

    def _target(self, slot: int, what: str) -> int | None:
        p = self._field(slot, 4)
        if p == 0:
            return None
        target = p + struct.unpack_from("<I", self.r.data, p)[0]
        self.r._check(target, 4, what)
        return target

    def table(self, slot: int, what: str) -> _Table | None:
        target = self._target(slot, what)
        return None if target is None else self.r.table(target, what)

    def vector(self, slot: int, elem_size: int, what: str) -> tuple[int, int] | None:
        """(start, length) of a vector field, after checking it fits in the file."""
        target = self._target(slot, what)
        if target is None:
            return None
        length = struct.unpack_from("<I", self.r.data, target)[0]
        start = target + 4
        if length * elem_size > self.r.n - start:
            raise self.r.fail(f"{what} claims {length:,} elements, more than the file holds")
        return start, length

    def numbers(self, slot: int, fmt: str, what: str) -> np.ndarray | None:
        dtype = np.dtype(fmt)
        v = self.vector(slot, dtype.itemsize, what)
        if v is None:
            return None
        start, length = v
        return np.frombuffer(self.r.data, dtype=dtype, count=length, offset=start)

    def string(self, slot: int, what: str) -> str | None:
        v = self.vector(slot, 1, what)
        if v is None:
            return None
        start, length = v
        return self.r.data[start : start + length].decode("utf-8", "replace")

    def tables(self, slot: int, what: str) -> list[_Table]:
        v = self.vector(slot, 4, what)
        if v is None:
            return []
        start, length = v
        out = []
        for i in range(length):
            p = start + 4 * i
            out.append(self.r.table(p + struct.unpack_from("<I", self.r.data, p)[0], what))
        return out


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

#: Options whose generated reader loops over vectors of tables/strings: not decoded.
_UNDECODED_OPTIONS_PREFIXES = ("Stablehlo", "StableHLO", "ConcatEmbeddings")

#: option field -> enum class name in the schema, to show names instead of numbers.
_OPTION_ENUMS = {
    "padding": "Padding",
    "fused_activation_function": "ActivationFunctionType",
    "weights_format": "FullyConnectedOptionsWeightsFormat",
    "quantized_bias_type": "TensorType",
    "in_data_type": "TensorType",
    "out_data_type": "TensorType",
    "output_type": "TensorType",
    "out_type": "TensorType",
    "idx_out_type": "TensorType",
    "mode": "MirrorPadMode",
    "combiner": "CombinerType",
    "type": "LSHProjectionType",
    "kernel_type": "LSTMKernelType",
}


@cache
def _options_names() -> dict[int, str]:
    return _enum_names(schema().BuiltinOptions)


def _decode_options(r: _Reader, op: _Table, index: int) -> tuple[str | None, dict[str, Any]]:
    type_code = op.scalar(3, "<B", 0)
    if type_code == 0:
        return None, {}
    type_name = _options_names().get(type_code, f"UNKNOWN_{type_code}")
    table = op.table(4, f"options of op {index}")
    if table is None:
        return type_name, {}
    if type_name.startswith(_UNDECODED_OPTIONS_PREFIXES) or type_name.startswith("UNKNOWN"):
        return type_name, {"_note": "options not decoded"}
    schema_fb = schema()
    t_cls = getattr(schema_fb, type_name + "T", None)
    if t_cls is None:
        return type_name, {}
    try:
        obj = t_cls.InitFromBuf(r.data, table.pos)
    except Exception as exc:
        raise r.fail(f"options of op {index} are unreadable ({type(exc).__name__})") from exc
    options: dict[str, Any] = {}
    for key, value in vars(obj).items():
        snake = _CAMEL.sub("_", key).lower()
        if isinstance(value, np.ndarray):
            value = value.tolist()
        enum_name = _OPTION_ENUMS.get(snake)
        if enum_name is not None and isinstance(value, int):
            names = _enum_names(getattr(schema_fb, enum_name, object))
            value = names.get(value, value)
        if snake == "out_type" and isinstance(value, int):
            value = tensor_type_names().get(value, value)
        options[snake] = value
    return type_name, options


def _int_list(arr: np.ndarray | None) -> list[int]:
    return [] if arr is None else [int(x) for x in arr]


def _read_quantization(t: _Table, index: int) -> tuple[np.ndarray, np.ndarray, int]:
    q = t.table(4, f"quantization of tensor {index}")
    empty = (np.zeros(0, np.float32), np.zeros(0, np.int64), 0)
    if q is None:
        return empty
    scales = q.numbers(2, "<f4", f"scales of tensor {index}")
    zps = q.numbers(3, "<i8", f"zero points of tensor {index}")
    axis = int(q.scalar(6, "<i", 0))
    if scales is None or len(scales) == 0:
        return empty
    scales = scales.astype(np.float32)
    zps = np.zeros(len(scales), np.int64) if zps is None else zps.astype(np.int64)
    return scales, zps, axis


def _parse(data: bytes) -> ModelInfo:
    r = _Reader(data)
    root = r.table(r.scalar("<I", 0, "the root offset"), "the model table")
    version = int(root.scalar(0, "<I", 0))
    description = root.string(3, "the description") or ""

    op_names = builtin_op_names()
    opcodes = []
    for i, t in enumerate(root.tables(1, "the operator codes")):
        deprecated = int(t.scalar(0, "<b", 0))
        builtin = max(int(t.scalar(3, "<i", 0)), deprecated)
        name = op_names.get(builtin, f"UNKNOWN_{builtin}")
        custom = t.string(1, "a custom op name")
        if name == "CUSTOM":
            name = f"CUSTOM:{custom}"
        opcodes.append(OpCodeInfo(i, builtin, name, custom, int(t.scalar(2, "<i", 1))))

    buffers = []
    for i, t in enumerate(root.tables(4, "the buffers")):
        vec = t.vector(0, 1, f"buffer {i}")
        if vec is not None and vec[1] > 0:
            buffers.append(BufferInfo(i, vec[0], vec[1]))
            continue
        offset, size = int(t.scalar(1, "<Q", 0)), int(t.scalar(2, "<Q", 0))
        if offset > 1 and size > 0:  # data stored after the flatbuffer (models > 2 GB)
            if offset + size > r.n:
                raise r.fail(f"buffer {i} ({size:,} bytes at {offset:,}) is beyond the file end")
            buffers.append(BufferInfo(i, offset, size))
        else:
            buffers.append(BufferInfo(i, 0, 0))

    metadata = {}
    for t in root.tables(6, "the metadata"):
        metadata[t.string(0, "a metadata name") or ""] = int(t.scalar(1, "<I", 0))
    signature_keys = [
        t.string(2, "a signature key") or "" for t in root.tables(7, "the signatures")
    ]

    type_names = tensor_type_names()
    model = ModelInfo(data, version, description, opcodes, [], buffers, metadata, signature_keys)
    subgraph_tables = root.tables(2, "the subgraphs")
    if not subgraph_tables:
        raise r.fail("it has no subgraph")
    for si, sg in enumerate(subgraph_tables):
        tensors = []
        for ti, t in enumerate(sg.tables(0, f"the tensors of subgraph {si}")):
            type_code = int(t.scalar(1, "<b", 0))
            tname = type_names.get(type_code)
            if tname is None:
                raise r.fail(f"tensor {ti} has an unknown type code {type_code}")
            buffer = int(t.scalar(2, "<I", 0))
            if buffer >= max(len(buffers), 1):
                raise r.fail(f"tensor {ti} refers to buffer {buffer} of {len(buffers)}")
            scales, zps, axis = _read_quantization(t, ti)
            if len(zps) != len(scales):
                raise r.fail(f"tensor {ti} has {len(scales)} scales but {len(zps)} zero points")
            signature = t.numbers(7, "<i4", f"the shape signature of tensor {ti}")
            tensors.append(
                TensorInfo(
                    index=ti,
                    name=t.string(3, f"the name of tensor {ti}") or f"tensor_{ti}",
                    shape=tuple(_int_list(t.numbers(0, "<i4", f"the shape of tensor {ti}"))),
                    dtype=DTYPES[tname][0],
                    type_code=type_code,
                    buffer=buffer,
                    is_constant=buffer < len(buffers) and buffers[buffer].size > 0,
                    is_variable=bool(t.scalar(5, "<B", 0)),
                    shape_signature=None if signature is None else tuple(_int_list(signature)),
                    scales=scales,
                    zero_points=zps,
                    quantized_dimension=axis,
                    sparse=t.table(6, f"the sparsity of tensor {ti}") is not None,
                    _model=model,
                )
            )
        n_t = len(tensors)

        def check_indices(idx: list[int], what: str, optional: bool, n_t: int = n_t) -> list[int]:
            for i in idx:
                if not (0 <= i < n_t or (optional and i == -1)):
                    raise r.fail(f"{what} refers to tensor {i} of {n_t}")
            return idx

        ops = []
        for oi, o in enumerate(sg.tables(3, f"the operators of subgraph {si}")):
            code_index = int(o.scalar(0, "<I", 0))
            if code_index >= len(opcodes):
                raise r.fail(f"op {oi} uses operator code {code_index} of {len(opcodes)}")
            code = opcodes[code_index]
            inputs = check_indices(
                _int_list(o.numbers(1, "<i4", f"op {oi} inputs")), f"op {oi}", True
            )
            outputs = check_indices(
                _int_list(o.numbers(2, "<i4", f"op {oi} outputs")), f"op {oi}", False
            )
            inter = check_indices(
                _int_list(o.numbers(8, "<i4", f"op {oi} intermediates")), f"op {oi}", True
            )
            custom = o.numbers(5, "<u1", f"op {oi} custom options")
            options_type, options = _decode_options(r, o, oi)
            ops.append(
                OpInfo(
                    index=oi,
                    opcode_index=code_index,
                    name=code.name,
                    builtin_code=code.builtin_code,
                    custom_code=code.custom_code if code.name.startswith("CUSTOM") else None,
                    version=code.version,
                    inputs=tuple(inputs),
                    outputs=tuple(outputs),
                    intermediates=tuple(inter),
                    options_type=options_type,
                    options=options,
                    custom_options=b"" if custom is None else custom.tobytes(),
                )
            )
        sg_inputs = check_indices(
            _int_list(sg.numbers(1, "<i4", "subgraph inputs")), "the subgraph inputs", False
        )
        sg_outputs = check_indices(
            _int_list(sg.numbers(2, "<i4", "subgraph outputs")), "the subgraph outputs", False
        )
        for op in ops:
            for i in op.outputs:
                if tensors[i].producer is None:
                    tensors[i].producer = op.index
            for i in op.inputs:
                if i >= 0 and op.index not in tensors[i].consumers:
                    tensors[i].consumers.append(op.index)
        for i in sg_inputs:
            tensors[i].is_input = True
        for i in sg_outputs:
            tensors[i].is_output = True
        name = sg.string(4, f"the name of subgraph {si}") or ""
        model.subgraphs.append(SubgraphInfo(si, name, tensors, ops, sg_inputs, sg_outputs))
    return model


def model_info(model: ModelLike) -> ModelInfo:
    """Read and validate a .tflite model (bytes or path) into a :class:`ModelInfo`.

    Raises :class:`~tinyml_utils.errors.ModelFileError` for missing, empty, non-TFLite,
    truncated or corrupt files, with a message saying what is wrong.
    """
    data = load_model_bytes(model)
    try:
        return _parse(data)
    except ModelFileError:
        raise
    except (struct.error, ValueError, IndexError, KeyError, OverflowError, MemoryError) as exc:
        raise ModelFileError(
            f"the file is not a valid TFLite model ({type(exc).__name__}: {exc}). "
            "Re-export or re-download the .tflite file."
        ) from exc
