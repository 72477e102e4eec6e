"""MAC counts from shapes (tinyml_utils.tflite.compute) on a model with known shapes."""

from __future__ import annotations

import pytest

from tinyml_utils.tflite import compute
from tinyml_utils.tflite.reader import model_info


@pytest.fixture(scope="module")
def known_model() -> bytes:
    """10x10x2 -> Conv2D(8, 3x3, same) -> DepthwiseConv2D(3x3, valid) -> MaxPool(2)
    -> Flatten -> Dense(5)."""
    from tinyml_utils.core.tf import keras, tf

    tf.keras.utils.set_random_seed(0)
    inp = keras.Input((10, 10, 2), name="input")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="valid")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(5)(x)
    model = keras.Model(inp, out)
    return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def test_macs_per_op(known_model):
    info = model_info(known_model)
    layers = compute.layer_table(info).set_index("op")
    conv = 10 * 10 * 8 * (3 * 3 * 2)  # output pixels x channels x kernel taps x input ch
    depthwise = 8 * 8 * 8 * (3 * 3)  # valid padding: 8x8 outputs, one input channel each
    dense = 1 * 5 * (4 * 4 * 8)  # pooled 4x4x8 = 128 inputs
    assert layers.loc["CONV_2D", "macs"] == conv
    assert layers.loc["DEPTHWISE_CONV_2D", "macs"] == depthwise
    assert layers.loc["FULLY_CONNECTED", "macs"] == dense
    assert layers.loc["MAX_POOL_2D", "macs"] == 0
    assert layers.loc["MAX_POOL_2D", "other_ops"] == 4 * 4 * 8 * (2 * 2)
    assert compute.total_macs(info) == conv + depthwise + dense


def test_bytes_per_op(known_model):
    info = model_info(known_model)
    layers = compute.layer_table(info).set_index("op")
    # float32 conv: weights 8x3x3x2 + bias 8; activations in 10x10x2 + out 10x10x8.
    assert layers.loc["CONV_2D", "weight_bytes"] == 4 * (8 * 3 * 3 * 2 + 8)
    assert layers.loc["CONV_2D", "activation_bytes"] == 4 * (10 * 10 * 2 + 10 * 10 * 8)
