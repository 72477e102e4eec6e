"""Keras model -> .tflite bytes, in the four post-training options of the workbook.

=================  =========================================================  ============
variant            what is stored                                             TFLM runs it
=================  =========================================================  ============
``float32``        float weights and activations                              yes
``dynamic_range``  int8 weights, float activations (hybrid ops at run time)   no (*)
``float16``        float16 weights, DEQUANTIZE to float32 at load             no (usually)
``int8``           int8 weights and activations, int8 input and output        yes
=================  =========================================================  ============

(*) Dynamic-range quantization skips weight tensors with fewer than 1,024 elements: they
stay float32. In a tiny model every tensor may be that small, and the "dynamic range" file
is then a float32 file that TFLM runs. Count what was quantized before trusting the name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.core.quiet import native_output_captured
from tinyml_utils.tflite.interpreters import load_model_bytes

Variant = Literal["float32", "dynamic_range", "float16", "int8"]
VARIANTS: tuple[Variant, ...] = ("float32", "dynamic_range", "float16", "int8")


def representative_dataset(
    x: np.ndarray, num_samples: int = 200, seed: int = 0
) -> Callable[[], Iterator[list[np.ndarray]]]:
    """A calibration generator for full-int8 conversion: ``num_samples`` inputs of ``x``.

    The samples should look like deployment inputs (same preprocessing); a few hundred
    cover the range of every activation well enough for small models.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"representative data must be a non-empty batch, got shape {x.shape}.")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(num_samples, len(x)), replace=False)

    def generate() -> Iterator[list[np.ndarray]]:
        for i in idx:
            yield [x[i : i + 1]]

    return generate


def keras_converter(model, batch_size: int | None = 1):
    """A TFLiteConverter for ``model``; with ``batch_size`` the input batch is fixed.

    A microcontroller runs one example at a time. Fixing the batch to 1 lets the converter
    fold shape arithmetic into constants: a Keras Reshape otherwise becomes
    SHAPE + STRIDED_SLICE + PACK + RESHAPE (ops, flash and arena for nothing).
    """
    from tinyml_utils.core.tf import tf

    if batch_size is None or len(model.inputs) != 1:
        return tf.lite.TFLiteConverter.from_keras_model(model)
    spec = tf.TensorSpec([batch_size, *model.inputs[0].shape[1:]], model.inputs[0].dtype)
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


def configure_converter(
    converter,
    variant: Variant,
    representative_data: np.ndarray | None = None,
    num_calibration: int = 200,
    seed: int = 0,
):
    """Set a TFLiteConverter up for one of the four variants (see the module docstring)."""
    from tinyml_utils.core.tf import tf

    if variant not in VARIANTS:
        raise DataError(f"unknown variant {variant!r}; choose one of {VARIANTS}.")
    if variant == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative_data is None:
            raise DataError(
                "int8 conversion needs representative_data: pass a batch of training inputs "
                "(e.g. x_train[:200]) so the converter can measure activation ranges."
            )
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(
            representative_data, num_calibration, seed
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


def convert(
    model,
    variant: Variant = "int8",
    representative_data: np.ndarray | None = None,
    num_calibration: int = 200,
    seed: int = 0,
    batch_size: int | None = 1,
) -> bytes:
    """Convert a Keras model to .tflite bytes.

    ``representative_data`` (a batch of preprocessed inputs) is required for ``int8``.
    The int8 model has int8 input and output: quantize inputs with the input tensor's
    scale/zero-point and dequantize outputs (see ``tinyml_utils.tflite.interpreters``).
    ``batch_size=1`` (default) fixes the input batch, as on a device; ``None`` keeps the
    Keras model's dynamic batch.
    """
    converter = configure_converter(
        keras_converter(model, batch_size), variant, representative_data, num_calibration, seed
    )
    with warnings.catch_warnings(), native_output_captured():
        # int8 inputs come from the representative data, so this warning says nothing useful.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(converter.convert())


def convert_all(
    model, representative_data: np.ndarray, variants: tuple[Variant, ...] = VARIANTS
) -> dict[str, bytes]:
    """All variants at once: ``{"float32": b"...", "dynamic_range": ..., ...}``."""
    return {v: convert(model, v, representative_data) for v in variants}


def size_table(variants: dict[str, bytes]):
    """A pandas table of .tflite sizes: bytes, KB and the ratio to the float32 file."""
    import pandas as pd

    base = len(variants["float32"]) if "float32" in variants else None
    rows = [
        {
            "variant": name,
            "bytes": len(data),
            "KB": round(len(data) / 1024, 2),
            "x smaller than float32": round(base / len(data), 2) if base else None,
        }
        for name, data in variants.items()
    ]
    return pd.DataFrame(rows)


def strip_strings(model_bytes: bytes) -> bytes:
    """The same model without tensor names, descriptions and signature strings.

    A microcontroller never reads them, yet they are a sizeable share of a small int8 file
    (notebook 10 measures it for its model). Weights, graph and quantization are
    untouched, so outputs and the TFLM arena are identical. Keep the named file for
    debugging and Netron; flash the stripped one.
    """
    import importlib

    from tinyml_utils.core.tf import tf  # noqa: F401  (the quiet TensorFlow import comes first)

    flatbuffer_utils = importlib.import_module("tensorflow.lite.tools.flatbuffer_utils")

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(load_model_bytes(model_bytes)))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
