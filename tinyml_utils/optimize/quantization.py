"""Quantization: post-training (PTQ) variants, calibration size, quantization-aware training.

* **PTQ** (:func:`ptq_variants`): the trained float model converted as dynamic range (int8
  weights, float activations), float16 (half-size weights), or full int8 (weights AND
  activations int8, calibrated on a *representative dataset*). Only full int8 (and float32)
  run under TensorFlow Lite Micro.
* **Calibration size** (:func:`calibration_sweep`): full-int8 conversion measures the range
  of every activation on the representative samples. One sample gives ranges that clip
  real data; a few hundred usually cover it.
* **QAT** (:func:`quantize_aware` + :func:`convert_qat`): tfmot's ``quantize_model`` /
  ``quantize_apply`` insert fake-quantization ops so that training sees (and compensates)
  the int8 rounding; the converter then reads the learnt ranges.
* **What int8 means for one layer** (:func:`weight_table`): each float weight ``w`` is
  stored as ``q = round(w / scale) + zero_point`` with one ``scale`` per output channel
  (per-channel, symmetric: zero_point = 0); reading it back gives ``(q - zp) * scale``,
  within ``scale / 2`` of ``w``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.optimize.search import tflite_accuracy as run
from tinyml_utils.tflite.convert import VARIANTS, convert, convert_all, representative_dataset
from tinyml_utils.tflite.info import op_name
from tinyml_utils.tflite.reader import load_model_object
from tinyml_utils.tflite.tflm import measure_arena

PTQ_VARIANTS = VARIANTS  # float32, dynamic_range, float16, int8
_WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def ptq_variants(
    model, representative_data: np.ndarray, variants: Sequence[str] = PTQ_VARIANTS
) -> dict[str, bytes]:
    """The post-training variants of ``model`` as .tflite bytes, keyed by variant name."""

    return convert_all(model, representative_data, tuple(variants))


def tflite_accuracy(model_bytes: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy measured by running the .tflite file (int8 inputs quantized by its scale)."""

    return run(model_bytes, x, y)


def accuracy_table(
    variants: dict[str, bytes],
    x: np.ndarray,
    y: np.ndarray,
    reference_accuracy: float | None = None,
    measure_tflm: bool = True,
):
    """One row per .tflite variant: bytes, accuracy (run), drop vs the reference, TFLM.

    ``reference_accuracy`` is usually the float Keras model's accuracy on the same
    examples; ``accuracy_drop`` is reference minus variant (positive = worse), in points of
    accuracy (0.01 = 1 %). ``runs_on_tflm`` / ``tflm_arena_bytes`` come from
    ``tinyml_utils.tflite.tflm.measure_arena``.
    """
    import pandas as pd

    rows = []
    for name, blob in variants.items():
        acc = tflite_accuracy(blob, x, y)
        row = {"variant": name, "tflite_bytes": len(blob), "accuracy": round(acc, 4)}
        if reference_accuracy is not None:
            row["accuracy_drop"] = round(reference_accuracy - acc, 4)
        if measure_tflm:
            report = measure_arena(blob)
            row["runs_on_tflm"] = report.runs
            row["tflm_arena_bytes"] = report.arena_bytes
        rows.append(row)
    return pd.DataFrame(rows)


def calibration_sweep(
    model,
    x_calibration: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    sizes: Sequence[int] = (1, 10, 100, 500),
    seeds: Sequence[int] = (0,),
):
    """int8 accuracy as a function of the number of representative (calibration) samples.

    For each size and seed, ``size`` samples are drawn from ``x_calibration`` (training
    data, never the evaluation set), the model is converted to full int8 and the file is
    run on ``(x_eval, y_eval)``. Also reports the input and output scales the calibration
    chose: with too few samples the ranges are too narrow and real inputs get clipped.
    """
    import pandas as pd

    rows = []
    for size in sizes:
        if size < 1:
            raise DataError(f"calibration sizes must be >= 1, got {size}.")
        for seed in seeds:
            blob = convert(model, "int8", x_calibration, num_calibration=size, seed=seed)
            in_scale, out_scale = _io_scales(blob)
            rows.append(
                {
                    "calibration_samples": min(size, len(x_calibration)),
                    "seed": seed,
                    "accuracy": round(tflite_accuracy(blob, x_eval, y_eval), 4),
                    "input_scale": in_scale,
                    "output_scale": out_scale,
                }
            )
    return pd.DataFrame(rows)


def _io_scales(model_bytes: bytes) -> tuple[float, float]:

    obj = load_model_object(model_bytes)
    sub = obj.subgraphs[0]
    scales = []
    for index in (sub.inputs[0], sub.outputs[0]):
        q = sub.tensors[index].quantization
        scales.append(float(q.scale[0]) if q is not None and q.scale is not None else 0.0)
    return scales[0], scales[1]


# --------------------------------------------------------------------------- QAT


def _qat_configs():
    """QuantizeConfigs for the 1-D layers tfmot 0.8.1 does not know (Conv1D, MaxPooling1D).

    Conv1D gets *per-tensor* symmetric int8 weights (tfmot's Dense config): tfmot's
    per-channel weight quantizer only handles 2-D and 4-D kernels, and a per-channel
    fake-quant on a Conv1D kernel makes the TF 2.21 converter fail ("'tfl.transpose' op has
    mismatched quantized axes"). MaxPooling1D passes its input range through (no-op).
    """
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_configs as configs,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry,
    )

    return registry.Default8BitQuantizeConfig, configs.NoOpQuantizeConfig


def quantize_aware(model, learning_rate: float = 5e-4):
    """A quantization-aware copy of ``model`` (tfmot ``quantize_apply``), compiled.

    Start from a trained float model: QAT is a short fine-tuning (a few epochs) with
    fake-quantized weights and activations, not training from scratch. The float weights
    are copied, ``model`` itself is not modified. Conv2D/Dense use tfmot's default 8-bit
    configs; Conv1D and MaxPooling1D (not supported by tfmot's ``quantize_model``) are
    annotated as explained in :func:`_qat_configs`.
    """
    import tensorflow_model_optimization as tfmot

    from tinyml_utils.core.tf import keras

    quantize = tfmot.quantization.keras
    weight_config, noop_config = _qat_configs()

    def annotate(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.Conv1D):
            return quantize.quantize_annotate_layer(
                fresh, weight_config(["kernel"], ["activation"], False)
            )
        if isinstance(layer, keras.layers.MaxPooling1D):
            return quantize.quantize_annotate_layer(fresh, noop_config())
        return quantize.quantize_annotate_layer(fresh)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    scope = {"Default8BitQuantizeConfig": weight_config, "NoOpQuantizeConfig": noop_config}
    try:
        with quantize.quantize_scope(scope):
            qat = quantize.quantize_apply(annotated)
    except RuntimeError as exc:
        raise DataError(
            f"tfmot cannot make this model quantization-aware: {exc} Use the CNN template "
            "with regulariser='dropout' or 'none' (BatchNormalization after Dense is not "
            "supported by tfmot's QAT)."
        ) from exc
    for layer in model.layers:
        if not layer.weights:
            continue
        wrapper = qat.get_layer(f"quant_{layer.name}")
        by_name = {w.name: w for w in wrapper.weights}
        for source in layer.weights:
            by_name[source.name].assign(source)
    qat.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return qat


def convert_qat(qat_model, representative_data: np.ndarray, num_calibration: int = 200) -> bytes:
    """A QAT model -> full-int8 .tflite (int8 input and output, like ``convert(.., "int8")``).

    The weight and activation ranges come from the fake-quant nodes learnt during QAT. The
    TF 2.21 converter still insists on a representative dataset for int8 input/output
    ("For full integer quantization, a `representative_dataset` must be specified"); it
    only fills in ranges QAT did not record.
    """
    from tinyml_utils.core.tf import tf

    converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(representative_data, num_calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())


# --------------------------------------------------------------------------- one layer


def _weight_layers(model) -> list[tuple[str, object, np.ndarray]]:
    """(name, layer, float kernel) of the Conv/Dense layers in order.

    QAT wraps each layer (``quant_conv1``): the wrapped layer's ``kernel`` is then the
    fake-quantized tensor, so the float kernel is read from the wrapper's variables.
    """
    from tinyml_utils.core.tf import keras

    found = []
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Dense):
            kernel = next(w for w in layer.weights if w.name.split("/")[-1].startswith("kernel"))
            found.append((layer.name.removeprefix("quant_"), inner, kernel.numpy()))
    return found


def _weight_ops(model_bytes: bytes) -> list[tuple[str, object, object]]:
    """(op name, weight tensor, buffer data) of every Conv/FC op, in execution order."""

    obj = load_model_object(model_bytes)
    sub = obj.subgraphs[0]
    found = []
    for op in sub.operators:
        name = op_name(obj, op.opcodeIndex)
        if name in _WEIGHT_OPS:
            tensor = sub.tensors[op.inputs[1]]
            found.append((name, tensor, obj.buffers[tensor.buffer].data))
    return found


def _to_tflite_layout(kernel: np.ndarray, layer) -> np.ndarray:
    """Keras kernel -> the layout TFLite stores (output channel first)."""
    from tinyml_utils.core.tf import keras

    if isinstance(layer, keras.layers.Dense):
        return kernel.T  # (in, out) -> (out, in)
    if isinstance(layer, keras.layers.Conv1D):
        return np.transpose(kernel, (2, 0, 1))[:, None, :, :]  # (k, in, out) -> (out, 1, k, in)
    return np.transpose(kernel, (3, 0, 1, 2))  # (kh, kw, in, out) -> (out, kh, kw, in)


def weight_table(model_bytes: bytes, keras_model, layer: str):
    """Every weight of one layer: float value next to its int8 value, scale and zero point.

    Columns: channel (output channel), index (position in the channel), float (the Keras
    weight), int8 (stored in the file), scale and zero_point (of that channel; per-tensor
    quantization repeats one value), dequantized ``(int8 - zero_point) * scale``, error
    (dequantized - float) and error_in_scales (error / scale, within +-0.5 unless clipped).

    The k-th Conv/Dense layer of ``keras_model`` is matched with the k-th CONV_2D /
    DEPTHWISE_CONV_2D / FULLY_CONNECTED op of the file (the template is sequential), and
    the shapes are checked.
    """
    import pandas as pd

    layers = _weight_layers(keras_model)
    names = [n for n, _, _ in layers]
    if layer not in names:
        raise DataError(f"no Conv/Dense layer {layer!r} in the model; it has {names}.")
    position = names.index(layer)
    ops = _weight_ops(model_bytes)
    if len(ops) != len(layers):
        raise DataError(
            f"the model has {len(layers)} Conv/Dense layers but the .tflite has {len(ops)} "
            "Conv/FC ops: pass the .tflite converted from this Keras model."
        )
    _, keras_layer, kernel = layers[position]
    _, tensor, data = ops[position]
    reference = _to_tflite_layout(kernel, keras_layer)
    shape = tuple(int(d) for d in tensor.shape)
    if tuple(reference.shape) != shape:
        raise DataError(f"layer {layer}: Keras kernel {reference.shape} vs .tflite {shape}.")
    if data is None or tensor.type != 9:  # 9 = INT8
        raise DataError(f"layer {layer}: the weights are not stored as int8 in this .tflite.")
    q = np.frombuffer(bytes(bytearray(data)), dtype=np.int8).reshape(shape)
    quant = tensor.quantization
    scales = np.asarray(quant.scale, dtype=np.float64)
    zero_points = np.asarray(quant.zeroPoint, dtype=np.int64)
    channels = shape[0]
    if len(scales) == 1:
        scales = np.repeat(scales, channels)
        zero_points = np.repeat(zero_points, channels)
    flat_q = q.reshape(channels, -1)
    flat_f = reference.reshape(channels, -1).astype(np.float64)
    per_channel = flat_q.shape[1]
    scale_col = np.repeat(scales, per_channel)
    zp_col = np.repeat(zero_points, per_channel)
    dequantized = (flat_q.reshape(-1) - zp_col) * scale_col
    error = dequantized - flat_f.reshape(-1)
    return pd.DataFrame(
        {
            "channel": np.repeat(np.arange(channels), per_channel),
            "index": np.tile(np.arange(per_channel), channels),
            "float": flat_f.reshape(-1),
            "int8": flat_q.reshape(-1).astype(int),
            "scale": scale_col,
            "zero_point": zp_col,
            "dequantized": dequantized,
            "error": error,
            "error_in_scales": error / scale_col,
        }
    )


def plot_weight_quantization(table, title: str = ""):
    """Float vs int8 scatter (one colour per channel) and the histogram of errors in scales."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].scatter(table["float"], table["int8"], c=table["channel"], cmap="tab20", s=8)
    axes[0].set_xlabel("float weight")
    axes[0].set_ylabel("stored int8 value")
    axes[0].set_title("q = round(w / scale[channel]) + zero_point")
    axes[0].grid(alpha=0.3)
    axes[1].hist(table["error_in_scales"], bins=41, range=(-0.6, 0.6), color="tab:blue")
    axes[1].axvline(-0.5, c="tab:red", ls="--")
    axes[1].axvline(0.5, c="tab:red", ls="--", label="+- scale / 2")
    axes[1].set_xlabel("(dequantized - float) / scale")
    axes[1].set_ylabel("weights")
    axes[1].set_title("rounding error, in units of the channel's scale")
    axes[1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
