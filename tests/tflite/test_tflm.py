"""TFLM arena measurement and support classification (tinyml_utils.tflite.tflm)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.analyze import samples
from tinyml_utils.tflite import tflm


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return samples.sample_models(samples.SPEC_2D)


def _probe(model: bytes, size: int, tmp_path) -> dict:
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    return tflm._run_probe(str(path), [size], stop_on_success=True, timeout=60)[-1]


def test_measured_arena_is_the_smallest_that_allocates_and_invokes(models, tmp_path):
    report = tflm.measure_arena(models["int8"])
    assert report.runs and report.arena_bytes is not None
    assert report.arena_bytes % 16 == 0
    ok = _probe(models["int8"], report.arena_bytes, tmp_path)
    assert ok["ok"] and ok["stage"] == "invoke"
    too_small = _probe(models["int8"], report.arena_bytes - 16, tmp_path)
    assert not too_small["ok"]
    # TFLM's own recording of the arena use with a generous arena is in the report.
    table = report.allocation_table()
    total = table.loc[table["item"] == "arena total", "used_bytes"].item()
    assert total == report.recorded_total
    assert report.recorded_total <= report.arena_bytes


def test_measure_arena_is_cached_per_model(models):
    first = tflm.measure_arena(models["float32"])
    assert tflm.measure_arena(bytes(models["float32"])) is first


def test_far_too_small_arena_crash_counts_as_does_not_fit(models, tmp_path):
    result = _probe(models["int8"], 64, tmp_path)
    assert not result["ok"]


def test_dynamic_range_model_is_refused_with_tflm_reason(models):
    report = tflm.measure_arena(models["dynamic_range"])
    assert not report.runs and report.arena_bytes is None
    assert "Input type: FLOAT32 with filter type: INT8 not supported" in report.reason
    assert "dynamic-range" in report.reason and "int8" in report.reason
    support = tflm.classify_tflm_support(models["dynamic_range"])
    assert support.kinds == ["hybrid"]
    assert {i.op for i in support.issues} == {"FULLY_CONNECTED"}


def test_float16_model_is_refused_with_dequantize_reason(models):
    report = tflm.measure_arena(models["float16"])
    assert not report.runs
    assert "DEQUANTIZE" in report.reason and "float16" in report.reason
    assert tflm.classify_tflm_support(models["float16"]).kinds == ["float16"]


def test_supported_models_have_no_issue(models):
    for variant in ("float32", "int8"):
        support = tflm.classify_tflm_support(models[variant])
        assert support.ok, support.summary()


@pytest.mark.parametrize(
    "kind, expected, tflm_text",
    [
        ("missing_op", "missing_op", "Didn't find op for builtin opcode 'GELU'"),
        ("custom", "custom", "Failed to get registration from op code CUSTOM"),
        ("flex", "flex", "Failed to get registration from op code CUSTOM"),
    ],
)
def test_unsupported_ops_are_named(kind, expected, tflm_text):
    model = samples.unsupported_model(kind)
    support = tflm.classify_tflm_support(model)
    assert support.kinds == [expected]
    report = tflm.measure_arena(model)
    assert not report.runs and tflm_text in report.reason
    assert "Fix:" in report.reason


def test_tflite_and_tflm_int8_outputs_identical(models):
    from tinyml_utils.tflite.interpreters import run_tflite, run_tflm

    x = samples.sample_inputs(samples.SPEC_2D, n=16, seed=3)
    arena = tflm.measure_arena(models["int8"]).arena_bytes
    a = run_tflite(models["int8"], x, dequantize_output=False, kernels="reference")
    b = run_tflm(models["int8"], x, arena_size=arena, dequantize_output=False)
    assert a.dtype == np.int8 and a.shape == (16, 4)
    np.testing.assert_array_equal(a, b)


def test_parse_allocations():
    text = (
        "[RecordingMicroAllocator] Arena allocation total 3040 bytes\n"
        "[RecordingMicroAllocator] Arena allocation head 1280 bytes\n"
        "[RecordingMicroAllocator] 'Persistent buffer data' used 380 bytes with alignment "
        "overhead (requested 344 bytes for 10 allocations)\n"
    )
    df = tflm.parse_allocations(text)
    assert list(df["item"]) == ["arena total", "arena head", "Persistent buffer data"]
    assert list(df["used_bytes"]) == [3040, 1280, 380]
    assert df["requested_bytes"].iloc[2] == 344 and df["count"].iloc[2] == 10
