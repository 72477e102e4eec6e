"""Pruning (synapses and neurons) and quantization (PTQ, calibration, QAT, weight table)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.core.errors import DataError
from tinyml_utils.model.cnn import CNNSpec, build_cnn
from tinyml_utils.optimize import pruning, quantization
from tinyml_utils.optimize.search import compile_model
from tinyml_utils.tflite.convert import convert
from tinyml_utils.tflite.reader import model_info
from tinyml_utils.tflite.tflm import classify_tflm_support

SPEC = CNNSpec((16, 2), 3, (8, 12), 1, (10,))


def _xy(n: int = 96, shape=(16, 2), classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n, *shape)).astype(np.float32) + y.reshape(-1, *[1] * len(shape))
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def trained():
    x, y = _xy()
    model = build_cnn(SPEC)
    compile_model(model)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model, x, y


# --------------------------------------------------------------------------- synapses


def test_synapse_pruning_reaches_sparsity_but_not_smaller_tflite(trained):
    model, x, y = trained
    before = [w.copy() for w in model.get_weights()]
    pruned, _ = pruning.synapse_prune(model, x, y, final_sparsity=0.75, epochs=2, batch_size=16)
    table = pruning.sparsity_table(pruned).set_index("layer")
    layers = table.drop(index="total")
    assert (layers["zeros"] >= np.floor(0.75 * layers["weights"])).all()  # tfmot rounds down
    assert not any("prune" in layer.name for layer in pruned.layers)  # stripped
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert pruning.sparsity_table(model).set_index("layer").loc["total", "sparsity"] < 0.05
    for variant in ("float32", "int8"):
        dense, sparse = convert(model, variant, x), convert(pruned, variant, x)
        assert len(dense) == len(sparse)  # zeros are still stored
        assert pruning.gzip_bytes(sparse) < pruning.gzip_bytes(dense)


def test_pruning_schedule_rejects_bad_sparsity():
    with pytest.raises(DataError):
        pruning.pruning_schedule(100, final_sparsity=1.0)


# --------------------------------------------------------------------------- neurons


def test_structured_pruning_keeps_the_original_weights(trained):
    model, x, _ = trained
    result = pruning.structured_prune(model, SPEC, keep=0.5, ord=1)
    assert result.spec.conv_filters == (4, 6) and result.spec.dense_units == (5,)
    assert result.model.count_params() < model.count_params()
    k1 = result.kept["conv1"]
    kernel = model.get_layer("conv1").get_weights()[0]
    norms = np.abs(kernel.reshape(-1, kernel.shape[-1])).sum(axis=0)
    assert set(k1) == set(np.argsort(-norms)[:4])  # the 4 largest L1 norms
    w_old, b_old = model.get_layer("conv2").get_weights()
    w_new, b_new = result.model.get_layer("conv2").get_weights()
    k2 = result.kept["conv2"]
    np.testing.assert_array_equal(w_new, w_old[..., k1, :][..., k2])
    np.testing.assert_array_equal(b_new, b_old[k2])
    d_old = model.get_layer("output").get_weights()[0]
    np.testing.assert_array_equal(
        result.model.get_layer("output").get_weights()[0], d_old[result.kept["dense1"]]
    )
    # The pruned model computes exactly what the original computes with the removed
    # filters/units switched off: this checks every index mapping, Flatten included.
    switched_off = build_cnn(SPEC, seed=None)
    switched_off.set_weights(model.get_weights())
    for name in ("conv1", "conv2", "dense1"):
        kernel, bias = switched_off.get_layer(name).get_weights()
        off = np.setdiff1d(np.arange(bias.size), result.kept[name])
        kernel[..., off], bias[off] = 0, 0
        switched_off.get_layer(name).set_weights([kernel, bias])
    np.testing.assert_allclose(
        result.model.predict(x[:16], verbose=0), switched_off.predict(x[:16], verbose=0), atol=1e-5
    )
    small, big = convert(result.model, "int8", x), convert(model, "int8", x)
    assert len(small) < len(big)
    assert result.summary_table()["after"].tolist() == [4, 6, 5]


def test_structured_pruning_2d_and_keep_everything():
    spec = CNNSpec((8, 8, 1), 2, (4,), 1, (6,))
    model = build_cnn(spec)
    x, _ = _xy(8, shape=(8, 8, 1), classes=2)
    same = pruning.structured_prune(model, spec, keep=1.0)
    np.testing.assert_allclose(
        same.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    some = pruning.structured_prune(model, spec, keep={"conv1": 2, "dense1": 0.5})
    assert some.spec.conv_filters == (2,) and some.spec.dense_units == (3,)
    with pytest.raises(DataError, match="spec"):
        pruning.structured_prune(model, SPEC)


# --------------------------------------------------------------------------- quantization


def _check_within_half_scale(table):
    assert table["zero_point"].eq(0).all()  # symmetric int8 weights
    assert (table["error"].abs() <= table["scale"] / 2 * (1 + 1e-4) + 1e-9).all()
    np.testing.assert_allclose(
        table["dequantized"], table["int8"] * table["scale"], rtol=1e-6, atol=1e-9
    )


def test_weight_table_int8_times_scale_is_the_float_weight(trained):
    model, x, _ = trained
    blob = convert(model, "int8", x)
    conv = quantization.weight_table(blob, model, "conv2")
    assert len(conv) == model.get_layer("conv2").get_weights()[0].size
    assert conv.groupby("channel")["scale"].nunique().eq(1).all()
    assert conv["scale"].nunique() == 12  # per-channel: one scale per output filter
    _check_within_half_scale(conv)
    _check_within_half_scale(quantization.weight_table(blob, model, "dense1"))
    with pytest.raises(DataError, match="no Conv/Dense layer"):
        quantization.weight_table(blob, model, "pool1_1")


def test_qat_model_converts_to_int8(trained):
    model, x, y = trained
    qat = quantization.quantize_aware(model)
    qat.fit(x, y, epochs=1, batch_size=32, verbose=0)
    blob = quantization.convert_qat(qat, x)
    info = model_info(blob)
    assert info.tensor(info.inputs[0]).dtype == "int8"
    assert info.tensor(info.outputs[0]).dtype == "int8"
    weight_ops = [op for op in info.ops if op.name in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(weight_ops) == 4
    assert all(info.tensor(op.inputs[1]).dtype == "int8" for op in weight_ops)
    _check_within_half_scale(quantization.weight_table(blob, qat, "conv1"))
    acc = quantization.tflite_accuracy(blob, x, y)
    assert 0.0 <= acc <= 1.0


def test_ptq_table_and_calibration_sweep(trained):
    model, x, y = trained
    variants = quantization.ptq_variants(model, x)
    table = quantization.accuracy_table(variants, x, y, reference_accuracy=1.0).set_index("variant")
    assert table.loc["int8", "runs_on_tflm"] and table.loc["float32", "runs_on_tflm"]
    # Dynamic range only quantizes weight tensors of >= 1024 elements: TFLM rejects the file
    # exactly when it holds such a hybrid op.
    hybrid = not classify_tflm_support(variants["dynamic_range"]).ok
    assert table.loc["dynamic_range", "runs_on_tflm"] == (not hybrid)
    assert table.loc["int8", "tflite_bytes"] < table.loc["float32", "tflite_bytes"]
    assert table.loc["int8", "accuracy_drop"] == pytest.approx(1 - table.loc["int8", "accuracy"])
    sweep = quantization.calibration_sweep(model, x, x[:32], y[:32], sizes=(1, 50))
    assert sweep["calibration_samples"].tolist() == [1, 50]
    assert (sweep["input_scale"] > 0).all()
