"""Small example models for tests, the benchmarking notebook and the speed benchmark.

They are built from the workbook's CNN template (:func:`tinyml_utils.model.cnn.build_cnn`) on
random data and converted with :func:`tinyml_utils.tflite.convert.convert_all`, so they have the
same structure as real workbook models, just tiny (a few kB) and untrained. Results are
cached in-process: the converter takes a few seconds per variant.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from tinyml_utils.model.cnn import CNNSpec, build_cnn
from tinyml_utils.tflite.convert import convert_all

#: 1-D signal model (e.g. 32 time steps x 3 axes): the template builds it as a RESHAPE to
#: (32, 1, 3) followed by CONV_2D (k, 1) / MAX_POOL_2D blocks in TFLite.
SPEC_1D = CNNSpec(input_shape=(32, 3), num_classes=3, conv_filters=(4, 8), dense_units=(8,))
#: 2-D model (16x16 "image", e.g. a small spectrogram) with a dense layer big enough
#: (> 1,024 weights) that dynamic-range conversion really stores it as int8.
SPEC_2D = CNNSpec(input_shape=(16, 16, 1), num_classes=4, conv_filters=(4,), dense_units=(8,))


def sample_inputs(spec: CNNSpec, n: int = 64, seed: int = 0) -> np.ndarray:
    """Random float32 inputs of the spec's shape (standard normal)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *spec.input_shape)).astype(np.float32)


@cache
def _variants(spec: CNNSpec, seed: int) -> tuple[tuple[str, bytes], ...]:

    model = build_cnn(spec, seed=seed)
    return tuple(convert_all(model, sample_inputs(spec, seed=seed)).items())


def sample_models(spec: CNNSpec = SPEC_2D, seed: int = 0) -> dict[str, bytes]:
    """``{"float32": b"...", "dynamic_range": ..., "float16": ..., "int8": ...}`` for ``spec``."""
    return dict(_variants(spec, seed))


@cache
def unsupported_model(kind: str) -> bytes:
    """A tiny float model TFLM cannot run: ``kind`` is "missing_op" (a GELU layer; TFLite
    runs it, TFLM has no kernel), "custom" (a custom op neither runtime has) or "flex"
    (a select TensorFlow op that needs the Flex delegate)."""
    from tinyml_utils.core.tf import keras, tf

    if kind == "missing_op":
        inp = keras.Input((8,), name="input")
        model = keras.Model(inp, keras.layers.Dense(4, activation="gelu")(inp))
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    @tf.function(input_signature=[tf.TensorSpec([1, 3, 3], tf.float32)])
    def determinant(x):
        return tf.linalg.det(x)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [determinant.get_concrete_function()], determinant
    )
    if kind == "custom":
        converter.allow_custom_ops = True
    elif kind == "flex":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
    else:
        raise ValueError(f"kind must be 'missing_op', 'custom' or 'flex', got {kind!r}")
    return bytes(converter.convert())
