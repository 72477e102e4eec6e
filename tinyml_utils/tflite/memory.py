"""Where the activations live: tensor lifetimes and a greedy arena plan, like TFLM's.

An interpreter runs the ops one after the other. A tensor that is not a constant (the
input, every intermediate result, the output) must be in RAM from the op that writes it
(its *first* use) to the last op that reads it (its *last* use). Two tensors whose
lifetimes do not overlap can share the same bytes. Planning the arena means giving each
tensor an offset so that tensors alive at the same time never overlap, with the smallest
possible peak (total bytes).

:func:`plan_arena` does what TFLM's ``GreedyMemoryPlanner`` does: take the buffers from the
largest to the smallest, and put each one at the lowest offset where it does not collide
with an already-placed buffer whose lifetime overlaps ("first fit"). It is not always
optimal, but close and fast. :func:`live_bytes_lower_bound` gives a bound no plan can
beat: the largest total of bytes alive at the same op.

TFLM's measured arena (:func:`tinyml_utils.tflite.tflm.measure_arena`) is larger than the
planned peak: it adds the persistent "tail" (tensor structs, quantization parameters, op
data, node registrations), kernels' scratch buffers, 16-byte alignment of every buffer, and
the planner's own working memory during ``AllocateTensors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyml_utils.tflite.info import ModelInfo

#: TFLM rounds every planned buffer up to this many bytes.
BUFFER_ALIGNMENT = 16


@dataclass
class Buffer:
    """A tensor to place: ``size`` bytes alive from op ``first`` to op ``last`` (inclusive)."""

    name: str
    size: int
    first: int
    last: int
    tensor: int | None = None
    offset: int | None = None

    def overlaps(self, other: Buffer) -> bool:
        """True when the two lifetimes share at least one op index."""
        return self.first <= other.last and other.first <= self.last


@dataclass
class ArenaPlan:
    """The result of :func:`plan_arena`: buffers with offsets, and the peak."""

    buffers: list[Buffer] = field(default_factory=list)
    peak: int = 0
    lower_bound: int = 0
    n_ops: int = 0
    alignment: int = BUFFER_ALIGNMENT

    def to_frame(self):
        """DataFrame: tensor, name, bytes, first_op, last_op, offset, end (sorted by first op)."""
        import pandas as pd

        rows = [
            {
                "tensor": b.tensor,
                "name": b.name,
                "bytes": b.size,
                "first_op": b.first,
                "last_op": b.last,
                "offset": b.offset,
                "end": None if b.offset is None else b.offset + _align(b.size, self.alignment),
            }
            for b in sorted(self.buffers, key=lambda b: (b.first, b.last, b.tensor or 0))
        ]
        cols = ["tensor", "name", "bytes", "first_op", "last_op", "offset", "end"]
        return pd.DataFrame(rows, columns=cols)

    def live_bytes(self) -> list[int]:
        """Bytes (aligned) alive at each op index."""
        live = [0] * max(self.n_ops, 1)
        for b in self.buffers:
            for i in range(max(b.first, 0), min(b.last, len(live) - 1) + 1):
                live[i] += _align(b.size, self.alignment)
        return live


def _align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment if alignment > 1 else n


def plan_arena(buffers: list[Buffer], alignment: int = BUFFER_ALIGNMENT) -> ArenaPlan:
    """Greedy plan (largest first, first fit among time-overlapping buffers).

    Sizes are rounded up to ``alignment`` bytes (TFLM: 16). The buffers get their
    ``offset`` set; the returned plan's ``peak`` is the end of the highest buffer.
    """
    order = sorted(range(len(buffers)), key=lambda i: (-_align(buffers[i].size, alignment), i))
    placed: list[Buffer] = []
    for i in order:
        buf = buffers[i]
        size = _align(buf.size, alignment)
        candidate = 0
        for other in sorted((p for p in placed if p.overlaps(buf)), key=lambda p: p.offset or 0):
            start = other.offset or 0
            if candidate + size <= start:
                break
            candidate = max(candidate, start + _align(other.size, alignment))
        buf.offset = candidate
        placed.append(buf)
    peak = max(((b.offset or 0) + _align(b.size, alignment) for b in buffers), default=0)
    n_ops = max((b.last for b in buffers), default=-1) + 1
    plan = ArenaPlan(list(buffers), peak, 0, n_ops, alignment)
    plan.lower_bound = max(plan.live_bytes(), default=0) if buffers else 0
    return plan


def tensor_lifetimes(info: ModelInfo) -> list[Buffer]:
    """One :class:`Buffer` per tensor the runtime places in the arena (subgraph 0).

    Like TFLM's allocation info: model inputs are alive from op 0, model outputs until the
    last op, every other non-constant tensor from the op that writes it to the last op
    that reads it. Constants (weights) stay in flash and variables are persistent, so
    neither is planned.
    """
    n_ops = len(info.ops)
    last_op = max(n_ops - 1, 0)
    buffers = []
    for t in info.tensors:
        if t.is_constant or t.is_variable:
            continue
        used = t.producer is not None or t.consumers or t.is_input or t.is_output
        if not used:
            continue
        first = 0 if t.is_input or t.producer is None else t.producer
        last = max(t.consumers, default=first)
        if t.is_output:
            last = last_op
        first, last = min(first, last_op), min(max(last, first), last_op)
        buffers.append(Buffer(t.name, t.nbytes, first, last, tensor=t.index))
    return buffers


def plan_model(info: ModelInfo, alignment: int = BUFFER_ALIGNMENT) -> ArenaPlan:
    """Lifetimes of the model's activation tensors, planned greedily."""
    plan = plan_arena(tensor_lifetimes(info), alignment)
    plan.n_ops = max(plan.n_ops, len(info.ops))
    return plan
