"""How much arithmetic a model does per inference, counted from tensor shapes.

What is counted:

* ``macs`` (multiply-accumulates, the cost that dominates on a microcontroller):
  - CONV_2D: one MAC per output element per kernel tap and input channel:
    ``N*OH*OW*OC * KH*KW*IC`` (weights ``[OC, KH, KW, IC]``; grouped convs use the
    weights' IC). Conv1D layers appear as CONV_2D with KH = 1 (TFLite has no 1-D conv).
  - DEPTHWISE_CONV_2D: ``N*OH*OW*OC * KH*KW`` (each output channel sees one input channel).
  - FULLY_CONNECTED: ``rows * units * inputs`` (weights ``[units, inputs]``).
  - TRANSPOSE_CONV: ``N*IH*IW*IC * KH*KW*OC`` (every input pixel scatters a kernel).
  - BATCH_MATMUL: ``output elements * K`` (the contracted dimension).
  - SVDF, LSTM and other recurrent ops are not counted (``macs`` left empty).
  Bias additions and fused activations are not counted (one add per output element).
* ``other_ops``: the non-MAC work of ops that still touch every element: pooling
  (``N*OH*OW*C * FH*FW`` comparisons or additions), element-wise ops (one per output
  element: ADD, MUL, activations, SOFTMAX, QUANTIZE...). Reshapes and other data-movement
  ops cost nothing here (TFLM may still copy the bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tinyml_utils.tflite.info import ModelInfo, OpInfo

_ELEMENTWISE = frozenset(
    """ADD SUB MUL DIV SQUARED_DIFFERENCE MAXIMUM MINIMUM RELU RELU6 RELU_N1_TO_1 LEAKY_RELU
    PRELU LOGISTIC TANH HARD_SWISH ELU GELU EXP LOG SQRT RSQRT SQUARE ABS NEG SIN COS
    SOFTMAX LOG_SOFTMAX QUANTIZE DEQUANTIZE CAST FLOOR CEIL ROUND POW ADD_N SELECT SELECT_V2
    EQUAL NOT_EQUAL LESS LESS_EQUAL GREATER GREATER_EQUAL""".split()
)
_POOLS = frozenset({"MAX_POOL_2D", "AVERAGE_POOL_2D", "L2_POOL_2D"})
_REDUCTIONS = frozenset({"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"})
_MOVES = frozenset(
    """RESHAPE EXPAND_DIMS SQUEEZE CONCATENATION PACK UNPACK SPLIT SPLIT_V SLICE STRIDED_SLICE
    TRANSPOSE PAD PADV2 GATHER SHAPE""".split()
)


def _prod(shape: tuple[int, ...] | list[int]) -> int:
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    return n


def op_cost(info: ModelInfo, op: OpInfo) -> dict[str, Any]:
    """``{"macs": int | None, "other_ops": int, "counted_as": str}`` for one op."""
    tensors = info.tensors
    ins = [tensors[i] if i >= 0 else None for i in op.inputs]
    outs = [tensors[i] for i in op.outputs]
    out_shape = outs[0].shape if outs else ()
    out_elems = sum(_prod(t.shape) for t in outs)
    name = op.name
    try:
        if name == "CONV_2D" and len(ins) >= 2 and ins[1] is not None and len(out_shape) == 4:
            w = ins[1].shape  # [OC, KH, KW, IC]
            if len(w) == 4:
                return {
                    "macs": _prod(out_shape) * w[1] * w[2] * w[3],
                    "other_ops": 0,
                    "counted_as": f"out {_dims(out_shape)} x kernel {w[1]}x{w[2]}x{w[3]}",
                }
        if name == "DEPTHWISE_CONV_2D" and len(ins) >= 2 and ins[1] is not None:
            w = ins[1].shape  # [1, KH, KW, OC]
            if len(w) == 4:
                return {
                    "macs": _prod(out_shape) * w[1] * w[2],
                    "other_ops": 0,
                    "counted_as": f"out {_dims(out_shape)} x kernel {w[1]}x{w[2]}",
                }
        if name == "FULLY_CONNECTED" and len(ins) >= 2 and ins[1] is not None:
            w = ins[1].shape  # [units, inputs]
            if len(w) == 2 and w[0] > 0:
                rows = _prod(out_shape) // w[0] if _prod(out_shape) else 0
                return {
                    "macs": rows * w[0] * w[1],
                    "other_ops": 0,
                    "counted_as": f"{rows} row(s) x {w[0]} units x {w[1]} inputs",
                }
        if name == "TRANSPOSE_CONV" and len(ins) >= 3 and ins[1] is not None and ins[2]:
            w, x = ins[1].shape, ins[2].shape  # weights [OC, KH, KW, IC], input NHWC
            if len(w) == 4:
                return {
                    "macs": _prod(x) * w[0] * w[1] * w[2],
                    "other_ops": 0,
                    "counted_as": f"in {_dims(x)} x kernel {w[1]}x{w[2]}x{w[0]}",
                }
        if name == "BATCH_MATMUL" and len(ins) >= 2 and ins[0] is not None:
            a = ins[0].shape
            if a:
                adj_x = bool(op.options.get("adj_x", False))
                k = a[-2] if adj_x and len(a) >= 2 else a[-1]
                return {"macs": _prod(out_shape) * k, "other_ops": 0, "counted_as": f"K={k}"}
        if name in _POOLS:
            fw = int(op.options.get("filter_width", 1) or 1)
            fh = int(op.options.get("filter_height", 1) or 1)
            return {
                "macs": 0,
                "other_ops": _prod(out_shape) * fw * fh,
                "counted_as": f"out {_dims(out_shape)} x window {fh}x{fw}",
            }
        if name in _REDUCTIONS and ins and ins[0] is not None:
            return {"macs": 0, "other_ops": _prod(ins[0].shape), "counted_as": "one per input"}
    except (TypeError, ValueError, IndexError, OverflowError):
        pass  # odd shapes: fall through to "not counted"
    if name in _ELEMENTWISE:
        return {"macs": 0, "other_ops": out_elems, "counted_as": "one per output element"}
    if name in _MOVES:
        return {"macs": 0, "other_ops": 0, "counted_as": "data movement"}
    return {"macs": None, "other_ops": 0, "counted_as": "not counted"}


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def layer_table(info: ModelInfo):
    """DataFrame, one row per op: shapes, MACs, other ops, weight and activation bytes.

    ``weight_bytes``: constant inputs (stored in flash). ``activation_bytes``: non-constant
    inputs + outputs (RAM touched by the op).
    """
    import pandas as pd

    rows = []
    for op in info.ops:
        cost = op_cost(info, op)
        ins = [info.tensors[i] for i in op.inputs if i >= 0]
        outs = [info.tensors[i] for i in op.outputs]
        rows.append(
            {
                "index": op.index,
                "op": op.name,
                "version": op.version,
                "input_shapes": "; ".join(_dims(t.shape) for t in ins if not t.is_constant),
                "output_shape": "; ".join(_dims(t.shape) for t in outs),
                "macs": cost["macs"],
                "other_ops": cost["other_ops"],
                "counted_as": cost["counted_as"],
                "weight_bytes": sum(t.nbytes for t in ins if t.is_constant),
                "activation_bytes": sum(t.nbytes for t in ins + outs if not t.is_constant),
                "options": ", ".join(f"{k}={v}" for k, v in op.options.items()),
            }
        )
    cols = [
        "index",
        "op",
        "version",
        "input_shapes",
        "output_shape",
        "macs",
        "other_ops",
        "counted_as",
        "weight_bytes",
        "activation_bytes",
        "options",
    ]
    return pd.DataFrame(rows, columns=cols)


def total_macs(info: ModelInfo) -> int:
    """Sum of MACs over the ops (ops whose MACs are not counted contribute 0)."""
    return int(sum(op_cost(info, op)["macs"] or 0 for op in info.ops))
