"""Reading a .tflite file happens here; every other stage asks this module.

A .tflite file is a FlatBuffer: a tree of tables (Model -> SubGraph -> Operator / Tensor,
Model -> Buffer) addressed by 32-bit offsets inside one byte string. Two ways to read it:

* :func:`model_info` -> :class:`~tinyml_utils.tflite.info.ModelInfo`: the workbook's own, bounds-checked reader. Every
  offset and vector length is checked against the file size before it is followed, so a
  truncated or corrupt file raises :class:`~tinyml_utils.core.errors.ModelFileError` instead of
  looping, allocating gigabytes or crashing. It returns plain dataclasses (ops with their
  decoded options, tensors with shapes/quantization/producer/consumers, buffers with their
  file offsets) that the benchmark, the memory planner and the C code generator build on.
* :func:`load_model_object` -> the schema's object API (``ModelT``), for code that wants the
  raw generated classes. It runs :func:`model_info`'s validation first.

The flatbuffer schema comes from the tflite-micro package (``schema_py_generated``), so the
workbook reads models with the same schema the TFLM runtime was built with::

    from tinyml_utils.tflite.reader import model_info
    info = model_info("model_int8.tflite")
    info.ops_frame()          # one row per operator: name, version, inputs, outputs, options
    info.tensors_frame()      # one row per tensor: shape, dtype, quantization, bytes, producer
    info.op_counts()          # op name -> count
    info.tensor(3).data()     # a weight tensor as a numpy array
"""

from __future__ import annotations

import re
import struct
from functools import cache
from typing import Any

import numpy as np

from tinyml_utils.core.errors import ModelFileError
from tinyml_utils.tflite.info import (
    DTYPES,
    BufferInfo,
    ModelInfo,
    OpCodeInfo,
    OpInfo,
    SubgraphInfo,
    TensorInfo,
    builtin_op_names,
    enum_names,
    schema,
    tensor_type_names,
)
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes


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
    return enum_names(schema().BuiltinOptions)


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
            names = enum_names(getattr(schema_fb, enum_name, object))
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
    _check_bounds(model, r)
    return model


#: no tensor of a model a PC benchmarks comes near this (the largest activations are ~100 MB)
MAX_TENSOR_BYTES = 512 << 20


def _check_bounds(model: ModelInfo, r: _Reader) -> None:
    """Shapes no runtime can hold (issue 12): the interpreters trust the file's shapes and
    read outside their buffers (SIGSEGV) or allocate gigabytes; refuse them here, for every
    command that reads a model."""
    for sg in model.subgraphs:
        inputs = set(sg.inputs)
        for op in sg.ops:  # an op reading a tensor nothing writes: runtimes read garbage
            for i in op.inputs:
                t = sg.tensors[i] if i >= 0 else None
                if t is None or t.is_constant or t.is_variable or i in inputs:
                    continue
                if t.producer is None and t.nbytes > 0:
                    raise r.fail(
                        f"op {op.index} ({op.name}) reads tensor {i} ({t.name[:60]!r}), which "
                        "has no data, is not a model input and is written by no op"
                    )
        for t in sg.tensors:
            label = f"tensor {t.index} ({t.name[:60]!r})"
            negative = [d for d in t.shape if d < 0]
            if negative:
                raise r.fail(
                    f"{label} has dimension {negative[0]} in its shape {list(t.shape)}; "
                    "a dimension cannot be negative"
                )
            if t.dtype in ("string", "resource", "variant"):
                continue
            nbytes = t.nbytes
            if nbytes > MAX_TENSOR_BYTES:
                raise r.fail(
                    f"{label} of shape {list(t.shape)} would take {nbytes / 2**20:,.0f} MB "
                    f"(dimension {max(t.shape)}); the limit is {MAX_TENSOR_BYTES >> 20} MB "
                    "per tensor"
                )
            if t.is_constant and not t.sparse and model.buffers[t.buffer].size < nbytes:
                raise r.fail(
                    f"constant {label} of shape {list(t.shape)} needs {nbytes:,} bytes but its "
                    f"buffer {t.buffer} holds {model.buffers[t.buffer].size:,}"
                )


def model_info(model: ModelLike) -> ModelInfo:
    """Read and validate a .tflite model (bytes or path) into a :class:`ModelInfo`.

    Raises :class:`~tinyml_utils.core.errors.ModelFileError` for missing, empty, non-TFLite,
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
