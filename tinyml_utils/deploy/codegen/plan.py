"""The static memory plan of the generated C: which bytes each activation tensor occupies.

The model input is read from the caller's buffer and the output written into the caller's
buffer; every other tensor gets an offset in one static arena, planned by lifetime like TFLM
does (greedy, :func:`tinyml_utils.tflite.memory.plan_arena`). RESHAPE-like ops alias their
input (:class:`Storage` unites them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinyml_utils.tflite.memory import Buffer, plan_arena

ARENA_ALIGNMENT = 4

#: A fused CONV_2D + MAX_POOL_2D computes its convolution values into a band of at most this
#: many bytes (window rows x chunk columns x channels) in the DSP scratch, then pools it.
BAND_LIMIT_BYTES = 256


def band_chunk(rows: int, used: int, f_w: int, channels: int) -> int:
    """Columns per band: the used row when it fits BAND_LIMIT_BYTES, else the largest
    multiple of lcm(4, f_w) (whole 4-pixel blocks, whole windows) that fits, at least one."""
    if rows * used * channels <= BAND_LIMIT_BYTES:
        return used
    step = 4 * f_w // math.gcd(4, f_w)
    return max(step, BAND_LIMIT_BYTES // (rows * channels) // step * step)


@dataclass
class TensorSlot:
    """Where a tensor's bytes are at run time: the caller's input/output or the arena."""

    kind: str  # "input" | "output" | "arena"
    offset: int = 0
    size: int = 0


class Storage:
    """Union of tensors that share bytes (RESHAPE and friends alias their input)."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)


def plan(info, storage: Storage, calls) -> tuple[dict[int, TensorSlot], int]:
    """Static memory plan: every non-input/output group gets an arena offset."""

    in_group = storage.find(info.inputs[0])
    out_group = storage.find(info.outputs[0])
    life: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    for step, (_, ins, outs) in enumerate(calls):
        for t in list(ins) + list(outs):
            g = storage.find(t)
            sizes[g] = max(sizes.get(g, 0), info.tensor(t).nbytes)
            span = life.setdefault(g, [step, step])
            span[0], span[1] = min(span[0], step), max(span[1], step)
    slots: dict[int, TensorSlot] = {
        in_group: TensorSlot("input", 0, info.tensor(info.inputs[0]).nbytes),
        out_group: TensorSlot("output", 0, info.tensor(info.outputs[0]).nbytes),
    }
    buffers = [
        Buffer(f"group{g}", sizes[g], life[g][0], life[g][1], tensor=g)
        for g in sorted(life)
        if g not in (in_group, out_group)
    ]
    plan = plan_arena(buffers, alignment=ARENA_ALIGNMENT)
    for b in plan.buffers:
        slots[b.tensor] = TensorSlot("arena", int(b.offset), int(b.size))
    return slots, int(plan.peak)
