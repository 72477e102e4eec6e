"""ModelInfo (tinyml_utils.tflite.reader) against what the TFLite interpreter reports."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.analyze import samples
from tinyml_utils.core.errors import ModelFileError
from tinyml_utils.tflite.info import tensor_nbytes
from tinyml_utils.tflite.reader import load_model_object, model_info

VARIANTS = ("float32", "dynamic_range", "float16", "int8")


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return {
        **{f"2d_{k}": v for k, v in samples.sample_models(samples.SPEC_2D).items()},
        **{f"1d_{k}": v for k, v in samples.sample_models(samples.SPEC_1D).items()},
    }


def _interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interpreter.allocate_tensors()
    return interpreter


@pytest.mark.parametrize("name", [f"{d}_{v}" for d in ("1d", "2d") for v in VARIANTS])
def test_ops_and_tensors_equal_the_interpreters_view(models, name):
    info = model_info(models[name])
    interpreter = _interpreter(models[name])
    ops = interpreter._get_ops_details()
    assert [op.name for op in info.ops] == [d["op_name"] for d in ops]
    for op, d in zip(info.ops, ops, strict=True):
        assert list(op.inputs) == [int(i) for i in d["inputs"]]
        assert list(op.outputs) == [int(i) for i in d["outputs"]]
    # The ops table counts exactly the ops the interpreter runs.
    counts = info.ops_table().groupby("op")["count"].sum().to_dict()
    expected: dict[str, int] = {}
    for d in ops:
        expected[d["op_name"]] = expected.get(d["op_name"], 0) + 1
    assert counts == expected

    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    # Hybrid (dynamic-range) kernels add temporary tensors after the model's own ones.
    assert len(details) == len(info.tensors) or "dynamic_range" in name
    assert len(details) >= len(info.tensors)
    for t in info.tensors:
        d = details[t.index]
        assert t.name == d["name"]
        assert t.shape == tuple(int(s) for s in d["shape"])
        assert np.dtype(d["dtype"]).name == t.dtype
        # bytes = prod(shape) * dtype size
        assert t.nbytes == int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize
        q = d["quantization_parameters"]
        np.testing.assert_array_equal(t.scales, q["scales"])
        np.testing.assert_array_equal(t.zero_points, q["zero_points"])
    assert info.inputs == [int(d["index"]) for d in interpreter.get_input_details()]
    assert info.outputs == [int(d["index"]) for d in interpreter.get_output_details()]


def test_constant_data_matches_interpreter(models):
    model = models["2d_int8"]
    info = model_info(model)
    interpreter = _interpreter(model)
    constants = [t for t in info.tensors if t.is_constant]
    assert constants
    for t in constants:
        np.testing.assert_array_equal(t.data(), interpreter.get_tensor(t.index))


def test_producers_consumers_and_kinds(models):
    info = model_info(models["2d_int8"])
    for op in info.ops:
        for i in op.outputs:
            assert info.tensors[i].producer == op.index
        for i in op.inputs:
            if i >= 0:
                assert op.index in info.tensors[i].consumers
    kinds = {t.index: t.kind for t in info.tensors}
    assert kinds[info.inputs[0]] == "input" and kinds[info.outputs[0]] == "output"
    conv = next(op for op in info.ops if op.name == "CONV_2D")
    weight = info.tensors[conv.inputs[1]]
    assert weight.kind == "weight" and weight.per_channel
    assert weight.quantization_text().startswith(f"per-channel x{weight.shape[0]}")
    assert conv.options["padding"] == "SAME"
    assert conv.options["fused_activation_function"] == "RELU"


def test_weights_by_dtype_add_up(models):
    info = model_info(models["2d_float16"])
    weights = info.weights_frame().set_index("dtype")
    assert weights.loc["float16", "bytes"] == 2 * weights.loc["float16", "weights"]
    total = sum(t.nbytes for t in info.tensors if t.is_constant)
    assert weights["bytes"].sum() == total


def test_tensor_nbytes_sub_byte_and_scalar():
    assert tensor_nbytes((3, 3), "int4") == 5
    assert tensor_nbytes((), "float32") == 4
    assert tensor_nbytes((2, 0), "int8") == 0


def test_load_model_object_still_works(models):
    obj = load_model_object(models["2d_int8"])
    assert len(obj.subgraphs[0].operators) == len(model_info(models["2d_int8"]).ops)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello world, not a model", "TFL3"),
        (b"\x1c\x00\x00\x00TFL3" + b"\x00" * 4, "outside the file"),
    ],
)
def test_bad_bytes_raise_model_file_error(data, message):
    with pytest.raises(ModelFileError, match=message):
        model_info(data)


def test_truncated_model_raises_model_file_error(models):
    data = models["2d_int8"]
    for cut in (12, len(data) // 3, len(data) - 200):
        with pytest.raises(ModelFileError):
            model_info(data[:cut])
