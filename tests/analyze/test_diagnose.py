"""tinyml diagnose: conversion fallbacks, Flex/custom/TRANSPOSE reports, TFLM trials, resolver."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from tinyml_utils.analyze.diagnose import diagnose, resolver_lines
from tinyml_utils.cli.diagnose import add_arguments, run
from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.tf import keras, tf
from tinyml_utils.model.cnn import CNNSpec, build_cnn
from tinyml_utils.tflite.convert import convert
from tinyml_utils.tflite.ops import resolver_method


def _adds(lines: list[str]) -> list[str]:
    return [
        re.fullmatch(r"resolver\.(\w+)\(\);", line).group(1)
        for line in lines
        if line.startswith("resolver.")
    ]


@pytest.fixture(scope="module")
def builtin_model():
    return build_cnn(CNNSpec((16, 2), 3, (4,), 1, (8,)))


def test_builtin_model_has_no_issues_and_resolver_matches_ops(builtin_model):
    d = diagnose(builtin_model)
    assert d.converted_with == "builtins" and d.issues == []
    assert d.tflm_runs and d.arena_bytes > 0
    adds = _adds(d.resolver_lines)
    assert sorted(adds) == sorted({resolver_method(op) for op in d.ops})
    assert len(adds) == len(set(d.ops))
    count = int(re.search(r"MicroMutableOpResolver<(\d+)>", d.resolver_lines[0]).group(1))
    assert count == len(adds)
    assert "AddConv2D" in adds and "AddFullyConnected" in adds


def test_channels_first_conv_reports_transposes():
    inp = keras.Input((3, 12, 12))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first", activation="relu")(inp)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    d = diagnose(keras.Model(inp, out), run_tflm=False)
    assert d.converted_with == "builtins"
    assert d.op_counts["TRANSPOSE"] == len(d.transposes) >= 1
    first = d.transposes[0]
    assert first.input_shape == (1, 3, 12, 12) and first.output_shape == (1, 12, 12, 3)
    assert first.bytes_copied == 3 * 12 * 12 * 4
    assert any("TRANSPOSE" in issue for issue in d.issues)
    assert "AddTranspose" in _adds(d.resolver_lines)


def test_select_op_is_named_and_tflm_rejects_it():
    inp = keras.Input((8,))
    out = keras.layers.Dense(2)(keras.layers.Lambda(tf.math.erf)(inp))
    d = diagnose(keras.Model(inp, out))
    assert [a.ok for a in d.attempts] == [False, True]
    assert d.converted_with == "builtins + SELECT_TF_OPS"
    assert d.converter_select_ops == ["Erf"] and d.flex_ops == ["Erf"]
    assert d.tflm_runs is False and d.tflm_missing_ops == ["CUSTOM:FlexErf"]
    assert any(line.startswith("// CUSTOM:FlexErf") for line in d.resolver_lines)


def test_custom_op_is_recognised():
    fn = tf.function(
        lambda x: tf.linalg.svd(tf.reshape(x, (-1, 3, 3)), compute_uv=False),
        input_signature=[tf.TensorSpec((1, 9), tf.float32)],
    )
    d = diagnose(fn, run_tflm=False)
    assert d.converted_with == "builtins + SELECT_TF_OPS + custom ops"
    assert d.custom_ops == ["Svd"] and d.converter_custom_ops == ["Svd"]
    assert any('AddCustom("Svd"' in line for line in d.resolver_lines)


def test_every_missing_tflm_kernel_is_named():
    fn = tf.function(
        lambda x: tf.math.atan2(x[:, :5], tf.abs(tf.signal.rfft(x)) + 1.0),
        input_signature=[tf.TensorSpec((1, 8), tf.float32)],
    )
    d = diagnose(fn)
    assert d.converted_with == "builtins" and d.tflm_runs is False
    assert set(d.tflm_missing_ops) == {"RFFT2D", "COMPLEX_ABS", "ATAN2"}
    assert "AddAtan2" not in _adds(d.resolver_lines)


def test_dynamic_range_model_rejection_is_named():
    inp = keras.Input((64,))
    out = keras.layers.Dense(2)(keras.layers.Dense(32, activation="relu")(inp))
    d = diagnose(keras.Model(inp, out), variant="dynamic_range")
    assert d.tflm_runs is False and d.tflm_missing_ops == []
    assert d.tflm_failed_node.startswith("FULLY_CONNECTED #0")
    assert "FLOAT32 with filter type: INT8" in d.tflm_message
    assert any("hybrid" in s for s in d.static_issues)


def test_resolver_method_names():
    assert resolver_method("CONV_2D") == "AddConv2D"
    assert resolver_method("DEPTHWISE_CONV_2D") == "AddDepthwiseConv2D"
    assert resolver_method("MAX_POOL_2D") == "AddMaxPool2D"
    assert resolver_method("BATCH_TO_SPACE_ND") == "AddBatchToSpaceNd"
    assert resolver_method("UNIDIRECTIONAL_SEQUENCE_LSTM") == "AddUnidirectionalSequenceLSTM"
    assert resolver_method("CUSTOM:TFLite_Detection_PostProcess") == "AddDetectionPostprocess"
    assert resolver_method("RFFT2D") is None
    lines = resolver_lines(["SOFTMAX", "CONV_2D", "SOFTMAX", "RFFT2D"])
    assert lines[:3] == [
        "static tflite::MicroMutableOpResolver<2> resolver;",
        "resolver.AddConv2D();",
        "resolver.AddSoftmax();",
    ]


def test_command_on_a_tflite_file(builtin_model, tmp_path, capsys):
    path = tmp_path / "model.tflite"
    path.write_bytes(convert(builtin_model, "float32"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args([str(path), "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["issues"] == [] and report["tflm_runs"] is True
    assert report["model_bytes"] == path.stat().st_size
    with pytest.raises(TinyMLError, match="no such file"):
        run(parser.parse_args([str(tmp_path / "missing.tflite")]))
    # Through the `tinyml` entry point: the text report, exit 0; an error is one line, exit 2.
    from tinyml_utils.cli import main

    assert main(["diagnose", str(path), "--no-tflm"]) == 0
    assert "static tflite::MicroMutableOpResolver<" in capsys.readouterr().out
    assert main(["diagnose", str(tmp_path / "missing.tflite")]) == 2


def test_saved_model_and_h5_inputs(builtin_model, tmp_path):
    builtin_model.save(tmp_path / "saved", save_format="tf")
    builtin_model.save(tmp_path / "model.h5")
    from_keras = diagnose(builtin_model, run_tflm=False)
    for source in (tmp_path / "saved", tmp_path / "model.h5"):
        d = diagnose(str(source), run_tflm=False)
        assert d.converted_with == "builtins" and d.issues == []
        assert d.op_counts == from_keras.op_counts
    with pytest.raises(TinyMLError, match="SavedModel"):
        diagnose(str(tmp_path / "notes.txt"))
