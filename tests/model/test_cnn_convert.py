"""The CNN template and the four conversion variants, checked on real .tflite files."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.core.errors import DataError, ModelFileError, UnsupportedOnMicroError
from tinyml_utils.model.cnn import CNNSpec, build_cnn, count_weights
from tinyml_utils.tflite.convert import (
    VARIANTS,
    convert,
    convert_all,
    size_table,
    strip_strings,
)
from tinyml_utils.tflite.info import op_name
from tinyml_utils.tflite.interpreters import load_model_bytes, run_tflite, run_tflm
from tinyml_utils.tflite.reader import load_model_object


@pytest.fixture(scope="module")
def tiny():
    spec = CNNSpec(input_shape=(100, 3), num_classes=2, conv_filters=(4, 8), dense_units=(8,))
    model = build_cnn(spec)
    x = np.random.default_rng(0).normal(size=(64, 100, 3)).astype(np.float32)
    return spec, model, x, convert_all(model, x)


def test_template_layers_follow_spec(tiny):
    spec, model, _, _ = tiny
    names = [layer.name for layer in model.layers]
    assert names == [
        "input", "as_image", "conv1", "pool1_1", "conv2", "pool2_1", "flatten", "dense1",
        "dropout1", "output",
    ]  # fmt: skip
    # conv1: 3*1*3*4+4, conv2: 3*1*4*8+8, dense1: (25*8)*8+8, output: 8*2+2
    assert count_weights(model) == 40 + 104 + 1608 + 18


def test_signals_use_conv2d_k1_and_convert_without_reshape_chains(tiny):
    spec, model, x, variants = tiny
    conv1d = build_cnn(CNNSpec(**{**spec.to_dict(), "one_d_layout": "conv1d"}))
    assert [layer.__class__.__name__ for layer in model.layers][2] == "Conv2D"
    assert model.get_layer("conv1").kernel.shape == (3, 1, 3, 4)
    ops_2d = _ops(variants["int8"])
    ops_1d = _ops(convert(conv1d, "int8", x))
    assert ops_2d.count("RESHAPE") == 2 and "EXPAND_DIMS" not in ops_2d  # in, and flatten
    assert "SHAPE" not in ops_2d and "PACK" not in ops_2d  # batch fixed to 1: folded
    assert len(ops_2d) < len(ops_1d)


def test_old_specs_without_layout_rebuild_as_conv1d():
    data = CNNSpec(input_shape=(32, 3), num_classes=2).to_dict()
    del data["one_d_layout"]
    assert CNNSpec.from_dict(data).one_d_layout == "conv1d"


def _ops(data: bytes) -> list[str]:
    obj = load_model_object(data)
    return [op_name(obj, op.opcodeIndex) for op in obj.subgraphs[0].operators]


def test_pools_per_block_and_2d_input():
    spec = CNNSpec(input_shape=(16, 16, 1), num_classes=3, conv_filters=(4,), pools=(2,))
    model = build_cnn(spec)
    assert model.output_shape == (None, 3)
    assert spec.output_steps() == (4, 4)
    assert [layer.name for layer in model.layers][2:4] == ["pool1_1", "pool1_2"]


def test_spec_json_roundtrip():
    spec = CNNSpec(input_shape=(32, 6), num_classes=3, pools=(1, 2), conv_filters=(8, 8))
    assert CNNSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (8, 3), "pools": 4}, "drops below 1"),
        ({"input_shape": (8,)}, "add a channel axis"),
        ({"input_shape": (8, 3), "num_classes": 1}, "num_classes"),
        ({"input_shape": (8, 3), "pools": (1,), "conv_filters": (4, 4)}, "one entry per conv"),
        ({"input_shape": (8, 3), "regulariser": "l9"}, "regulariser"),
    ],
)
def test_invalid_specs_name_the_problem(kwargs, message):
    kwargs.setdefault("num_classes", 2)
    with pytest.raises(DataError, match=message):
        spec = CNNSpec(**kwargs)
        spec.output_steps()


def test_variants_are_valid_and_int8_has_int8_io(tiny):
    _, _, _, variants = tiny
    assert set(variants) == set(VARIANTS)
    for data in variants.values():
        assert load_model_bytes(data) == data
    obj = load_model_object(variants["int8"])
    graph = obj.subgraphs[0]
    int8 = 9  # TensorType.INT8
    assert graph.tensors[graph.inputs[0]].type == int8
    assert graph.tensors[graph.outputs[0]].type == int8
    ops = {op_name(obj, op.opcodeIndex) for op in graph.operators}
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= ops
    table = size_table(variants)
    assert table.set_index("variant").loc["float32", "x smaller than float32"] == 1.0
    assert len(variants["int8"]) < len(variants["float32"])


def test_float32_tflite_matches_keras(tiny):
    _, model, x, variants = tiny
    np.testing.assert_allclose(
        run_tflite(variants["float32"], x[:8]), model(x[:8]).numpy(), atol=1e-5
    )


def test_int8_tflite_and_tflm_outputs_identical(tiny):
    _, _, x, variants = tiny
    a = run_tflite(variants["int8"], x, dequantize_output=False, kernels="reference")
    b = run_tflm(variants["int8"], x, dequantize_output=False)
    assert a.dtype == np.int8 and np.array_equal(a, b)
    # TFLite's optimized int8 softmax (a lookup table) may differ by one step, never more.
    fast = run_tflite(variants["int8"], x, dequantize_output=False)
    assert np.abs(fast.astype(int) - b).max() <= 1


def test_dynamic_range_is_refused_by_tflm(tiny):
    _, _, x, variants = tiny
    with pytest.raises(UnsupportedOnMicroError, match="TFLM could not load"):
        run_tflm(variants["dynamic_range"], x[:1])


def test_int8_needs_representative_data(tiny):
    _, model, _, _ = tiny
    with pytest.raises(DataError, match="representative_data"):
        convert(model, "int8")
    with pytest.raises(DataError, match="unknown variant"):
        convert(model, "int4")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"hello world, not a model", "not a TFLite flatbuffer"),
        (b"TF", "not a TFLite"),
    ],
)
def test_bad_model_files(tmp_path, content, message):
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load_model_bytes(path)
    with pytest.raises(ModelFileError, match="no such file"):
        load_model_bytes(tmp_path / "missing.tflite")


def test_wrong_input_shape_is_a_clear_error(tiny):
    _, _, _, variants = tiny
    with pytest.raises(DataError, match="expects"):
        run_tflite(variants["int8"], np.zeros((2, 50, 3), np.float32))


def test_strip_strings_keeps_behaviour_and_shrinks(tiny):
    _, _, x, variants = tiny
    stripped = strip_strings(variants["int8"])
    assert len(stripped) < len(variants["int8"])
    names = [t.name for t in load_model_object(stripped).subgraphs[0].tensors]
    assert all(not n for n in names)
    for run in (run_tflm, lambda m, x, **k: run_tflite(m, x, kernels="reference", **k)):
        same = run(stripped, x, dequantize_output=False)
        assert np.array_equal(same, run(variants["int8"], x, dequantize_output=False))
