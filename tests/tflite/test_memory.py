"""The greedy arena planner (tinyml_utils.tflite.memory)."""

from __future__ import annotations

import itertools
import random

import pytest

from tinyml_utils.analyze import samples
from tinyml_utils.tflite import memory
from tinyml_utils.tflite.memory import Buffer, plan_arena
from tinyml_utils.tflite.reader import model_info


def _no_overlap(plan) -> None:
    for a, b in itertools.combinations(plan.buffers, 2):
        if a.overlaps(b):
            a_end = a.offset + -(-a.size // plan.alignment) * plan.alignment
            b_end = b.offset + -(-b.size // plan.alignment) * plan.alignment
            assert a_end <= b.offset or b_end <= a.offset, (a, b)


def test_chain_reuses_memory_and_reaches_the_optimum():
    # A chain input -> t1 -> t2 -> t3: only neighbours are alive together.
    buffers = [
        Buffer("in", 100, 0, 0),
        Buffer("t1", 400, 0, 1),
        Buffer("t2", 200, 1, 2),
        Buffer("t3", 300, 2, 2),
    ]
    plan = plan_arena(buffers, alignment=1)
    _no_overlap(plan)
    # Optimum = the most bytes alive at one op: op 0 has 500, op 1 has 600, op 2 has 500.
    assert plan.lower_bound == 600
    assert plan.peak == 600
    placed = {b.name: b.offset for b in plan.buffers}
    assert placed["t1"] == 0  # largest first, at offset 0
    assert placed["t3"] == 0  # t1 is dead by op 2: t3 reuses its bytes


def test_first_fit_fills_a_gap():
    buffers = [
        Buffer("big_early", 100, 0, 1),
        Buffer("big_late", 100, 2, 3),
        Buffer("long", 50, 0, 3),
        Buffer("small", 40, 1, 2),
    ]
    plan = plan_arena(buffers, alignment=1)
    _no_overlap(plan)
    # Known optimum: 190 bytes (at op 1 and op 2, 100 + 50 + 40 are alive).
    assert plan.peak == plan.lower_bound == 190


def test_alignment_rounds_sizes_up():
    plan = plan_arena([Buffer("a", 1, 0, 1), Buffer("b", 17, 0, 1)], alignment=16)
    assert sorted(b.offset for b in plan.buffers) == [0, 32]
    assert plan.peak == 48


def test_random_instances_are_valid_plans():
    rng = random.Random(0)
    for _ in range(200):
        buffers = []
        for i in range(rng.randint(1, 12)):
            first = rng.randint(0, 9)
            buffers.append(Buffer(f"b{i}", rng.randint(1, 300), first, rng.randint(first, 9)))
        plan = plan_arena(buffers)
        _no_overlap(plan)
        assert plan.lower_bound <= plan.peak <= sum(-(-b.size // 16) * 16 for b in buffers)


@pytest.mark.parametrize("spec", [samples.SPEC_1D, samples.SPEC_2D])
def test_model_plan_covers_every_activation_without_overlap(spec):
    info = model_info(samples.sample_models(spec)["int8"])
    plan = memory.plan_model(info)
    planned = {b.tensor for b in plan.buffers}
    expected = {t.index for t in info.tensors if not t.is_constant}
    assert planned == expected
    _no_overlap(plan)
    for b in plan.buffers:
        t = info.tensors[b.tensor]
        assert b.size == t.nbytes
        assert b.first == (0 if t.is_input else t.producer)
        assert b.last == (len(info.ops) - 1 if t.is_output else max(t.consumers))
    frame = plan.to_frame()
    assert (frame["end"] <= plan.peak).all()
    assert plan.peak >= plan.lower_bound


def test_int8_plan_equals_tflm_head():
    """The planned activations are what TFLM puts in its non-persistent head here."""
    from tinyml_utils.tflite.tflm import measure_arena

    model = samples.sample_models(samples.SPEC_2D)["int8"]
    plan = memory.plan_model(model_info(model))
    table = measure_arena(model).allocation_table()
    head = table.loc[table["item"] == "arena head", "used_bytes"].item()
    assert plan.peak == head
