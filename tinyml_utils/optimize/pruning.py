"""Pruning: removing weights (synapses) or whole neurons, and what each saves on an MCU.

Two very different things are called pruning:

* **Synapse pruning** (unstructured, :func:`synapse_prune`): tensorflow-model-optimization
  sets the smallest-magnitude weights of every Conv/Dense kernel to zero while training,
  ramping the sparsity with a ``PolynomialDecay`` schedule; the ``UpdatePruningStep``
  callback advances that schedule each batch; ``strip_pruning`` removes the wrappers. The
  zeros are still *stored*: the .tflite file and the TFLM arena keep exactly the same size
  (TFLM has no sparse kernels). Only a compressor sees the difference
  (:func:`gzip_bytes`), which helps over-the-air updates, not the MCU's memory.
* **Neuron pruning** (structured, :func:`structured_prune`): whole conv filters or dense
  units with the smallest L1 (or L2) norm are removed, a *smaller* CNN is built from the
  reduced :class:`~tinyml_utils.model.cnn.CNNSpec`, the kept weights are copied over, and the
  model is fine-tuned. Fewer parameters AND smaller activations: the .tflite, the arena and
  the latency all shrink.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
from dataclasses import dataclass

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.model.cnn import CNNSpec, build_cnn
from tinyml_utils.model.train import evaluate_tflite
from tinyml_utils.optimize.search import _macs_of
from tinyml_utils.tflite.convert import convert
from tinyml_utils.tflite.tflm import measure_arena

# --------------------------------------------------------------------------- synapses


def pruning_schedule(
    steps: int, final_sparsity: float, initial_sparsity: float = 0.0, ramp: float = 0.7
):
    """A tfmot ``PolynomialDecay`` that reaches ``final_sparsity`` after ``ramp`` of ``steps``.

    tfmot prunes at steps ``begin + k * frequency`` up to ``end_step``; ``end_step`` is
    chosen as a multiple of ``frequency`` so that the last pruning step lands exactly on
    it and the final sparsity is really reached (the remaining steps fine-tune the
    surviving weights).
    """
    import tensorflow_model_optimization as tfmot

    if not 0.0 <= initial_sparsity <= final_sparsity < 1.0:
        raise DataError(
            f"need 0 <= initial_sparsity <= final_sparsity < 1, got {initial_sparsity}, "
            f"{final_sparsity}."
        )
    if steps < 2:
        raise DataError(f"pruning needs at least 2 training steps, got {steps}.")
    frequency = max(1, min(100, steps // 10))
    end_step = max(frequency, int(ramp * steps) // frequency * frequency)
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=final_sparsity,
        begin_step=0,
        end_step=end_step,
        frequency=frequency,
    )


def synapse_prune(
    model,
    x: np.ndarray,
    y: np.ndarray,
    final_sparsity: float = 0.8,
    epochs: int = 2,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    verbose: int | str = 0,
):
    """Fine-tune ``model`` with magnitude pruning; returns ``(stripped_model, history)``.

    The returned model is a plain Keras model (``strip_pruning`` applied) whose Conv and
    Dense kernels have ``final_sparsity`` of their weights exactly zero. ``model`` itself
    is not modified.
    """
    import tensorflow_model_optimization as tfmot

    from tinyml_utils.core.tf import keras

    steps = math.ceil(len(x) / batch_size) * epochs
    schedule = pruning_schedule(steps, final_sparsity)
    # prune_low_magnitude wraps the layers it is given (sharing their variables): work on a
    # copy so that the caller's float model stays the unpruned baseline.
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    pruned = tfmot.sparsity.keras.prune_low_magnitude(copy, pruning_schedule=schedule)
    pruned.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = pruned.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        verbose=verbose,
    )
    return tfmot.sparsity.keras.strip_pruning(pruned), history


def sparsity_table(model):
    """Fraction of exactly-zero weights in every Conv/Dense kernel (and in total)."""
    import pandas as pd

    rows = []
    for layer, kernel in _kernels(model):
        k = np.asarray(kernel)
        rows.append(
            {"layer": layer.name, "weights": k.size, "zeros": int(np.sum(k == 0))},
        )
    df = pd.DataFrame(rows, columns=["layer", "weights", "zeros"])
    total = {"layer": "total", "weights": df["weights"].sum(), "zeros": df["zeros"].sum()}
    df = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    df["sparsity"] = (df["zeros"] / df["weights"]).round(4)
    return df


def _kernels(model):
    from tinyml_utils.core.tf import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Dense):
            yield layer, layer.get_weights()[0]


def gzip_bytes(data: bytes) -> int:
    """Size of ``data`` after gzip -9: what zeros buy you (a download, not MCU memory)."""
    return len(gzip.compress(bytes(data), compresslevel=9, mtime=0))


# --------------------------------------------------------------------------- neurons


@dataclass
class StructuredResult:
    """Output of :func:`structured_prune`.

    Attributes:
        model: the new, smaller Keras model (not compiled) with the kept weights.
        spec: its :class:`CNNSpec`.
        kept: layer name -> indices (ascending) of the filters/units kept.
        norms: layer name -> the norm of every original filter/unit.
    """

    model: object
    spec: CNNSpec
    kept: dict[str, np.ndarray]
    norms: dict[str, np.ndarray]

    def summary_table(self):
        """Per layer: units before, after, and the smallest kept / largest removed norm."""
        import pandas as pd

        rows = []
        for name, norm in self.norms.items():
            keep = self.kept[name]
            removed = np.setdiff1d(np.arange(len(norm)), keep)
            rows.append(
                {
                    "layer": name,
                    "before": len(norm),
                    "after": len(keep),
                    "smallest kept norm": round(float(norm[keep].min()), 4),
                    "largest removed norm": round(float(norm[removed].max()), 4)
                    if len(removed)
                    else None,
                }
            )
        return pd.DataFrame(rows)


def neuron_norms(model, ord: int = 1) -> dict[str, np.ndarray]:
    """L1 (``ord=1``) or L2 (``ord=2``) norm of each conv filter / dense unit's weights.

    A filter's weights are its kernel slice over (positions, input channels): a filter with
    a small norm contributes little to the next layer, the classic pruning criterion
    (Li et al., "Pruning Filters for Efficient ConvNets", 2017).
    """
    if ord not in (1, 2):
        raise DataError(f"ord must be 1 (L1) or 2 (L2), got {ord}.")
    norms = {}
    for layer, kernel in _kernels(model):
        if layer.name == "output":
            continue
        flat = np.asarray(kernel).reshape(-1, kernel.shape[-1])
        norms[layer.name] = np.linalg.norm(flat, ord=ord, axis=0)
    return norms


def _keep_count(n: int, keep: float | int, min_keep: int) -> int:
    if isinstance(keep, float):
        if not 0.0 < keep <= 1.0:
            raise DataError(f"keep fraction must be in (0, 1], got {keep}.")
        count = round(keep * n)
    else:
        count = int(keep)
    return int(min(n, max(min_keep, count)))


def structured_prune(
    model,
    spec: CNNSpec,
    keep: float | dict[str, float | int] = 0.5,
    ord: int = 1,
    min_keep: int = 1,
) -> StructuredResult:
    """Remove the weakest filters/units of a :func:`~tinyml_utils.model.cnn.build_cnn` model.

    Args:
        model: a trained model built by ``build_cnn(spec)`` (layer names conv1.., dense1..).
        spec: the spec it was built from.
        keep: fraction of filters/units to keep in every hidden layer (0.5 halves them),
            or a dict ``{"conv1": 0.5, "dense1": 8, ...}`` (fraction or count per layer;
            layers not named keep everything).
        ord: 1 for L1 norms, 2 for L2.
        min_keep: never keep fewer than this per layer.

    Returns:
        :class:`StructuredResult` with the smaller model (not compiled: fine-tune it) whose
        weights are the original weights at the kept indices (the output layer too).
    """

    norms = neuron_norms(model, ord)
    expected = [f"conv{i + 1}" for i in range(spec.n_conv)] + [
        f"dense{i + 1}" for i in range(spec.n_dense)
    ]
    if sorted(norms) != sorted(expected):
        raise DataError(
            f"model layers {sorted(norms)} do not match the spec ({expected}); pass the "
            "CNNSpec the model was built from (build_cnn(spec))."
        )
    kept: dict[str, np.ndarray] = {}
    for name in expected:
        fraction = keep.get(name, 1.0) if isinstance(keep, dict) else keep
        count = _keep_count(len(norms[name]), fraction, min_keep)
        order = np.argsort(-norms[name], kind="stable")[:count]
        kept[name] = np.sort(order)

    new_spec = dataclasses.replace(
        spec,
        conv_filters=tuple(len(kept[f"conv{i + 1}"]) for i in range(spec.n_conv)),
        dense_units=tuple(len(kept[f"dense{i + 1}"]) for i in range(spec.n_dense)),
    )
    new_model = build_cnn(new_spec, seed=None)
    _copy_kept_weights(model, new_model, spec, kept)
    return StructuredResult(new_model, new_spec, kept, norms)


def _copy_kept_weights(old, new, spec: CNNSpec, kept: dict[str, np.ndarray]) -> None:
    """Slice every kernel/bias (and batch-norm vectors) to the kept indices."""
    in_idx = np.arange(spec.input_shape[-1])
    for i in range(spec.n_conv):
        name = f"conv{i + 1}"
        kernel, bias = old.get_layer(name).get_weights()
        out_idx = kept[name]
        kernel = kernel[..., in_idx, :][..., out_idx]
        new.get_layer(name).set_weights([kernel, bias[out_idx]])
        in_idx = out_idx
    # Flatten: feature index = position * channels + channel (channels last).
    positions = int(np.prod(spec.output_steps()))
    channels = spec.conv_filters[-1] if spec.n_conv else spec.input_shape[-1]
    in_rows = (np.arange(positions)[:, None] * channels + in_idx[None, :]).reshape(-1)
    for i in range(spec.n_dense):
        name = f"dense{i + 1}"
        kernel, bias = old.get_layer(name).get_weights()
        out_idx = kept[name]
        new.get_layer(name).set_weights([kernel[in_rows][:, out_idx], bias[out_idx]])
        if spec.regulariser == "batchnorm":
            bn = f"batchnorm{i + 1}"
            new.get_layer(bn).set_weights([w[out_idx] for w in old.get_layer(bn).get_weights()])
        in_rows = out_idx
    kernel, bias = old.get_layer("output").get_weights()
    new.get_layer("output").set_weights([kernel[in_rows], bias])


def fine_tune(
    model,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int = 2,
    batch_size: int = 64,
    learning_rate: float = 5e-4,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    verbose: int | str = 0,
):
    """Compile (Adam, sparse cross-entropy) and train a pruned model a little; returns history.

    A lower learning rate than from scratch: the copied weights are already good.
    """
    from tinyml_utils.core.tf import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        verbose=verbose,
    )


# --------------------------------------------------------------------------- measuring


def footprint(model, x_calibration: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray) -> dict:
    """What a (pruned) model costs on an MCU and how accurate it is, measured on its files.

    Returns params, nonzero_weights (Conv/Dense kernels), float32_bytes and int8_bytes
    (.tflite sizes), int8_gzip_bytes, arena_bytes (TFLM, int8 model), macs, and accuracy /
    balanced_accuracy of the int8 file on ``(x_eval, y_eval)``.
    """

    int8 = convert(model, "int8", x_calibration)
    k = int(model.output_shape[-1])
    result = evaluate_tflite(int8, x_eval, y_eval, [str(i) for i in range(k)])
    return {
        "params": int(model.count_params()),
        "nonzero_weights": int(sum(np.count_nonzero(w) for _, w in _kernels(model))),
        "float32_bytes": len(convert(model, "float32")),
        "int8_bytes": len(int8),
        "int8_gzip_bytes": gzip_bytes(int8),
        "arena_bytes": measure_arena(int8).arena_bytes,
        "macs": _macs_of(int8),
        "accuracy": round(float(result.accuracy), 4),
        "balanced_accuracy": round(float(result.balanced_accuracy), 4),
    }


def plot_norms(result: StructuredResult, title: str = ""):
    """Sorted neuron norms per layer, kept in colour, removed in grey."""
    import matplotlib.pyplot as plt

    names = list(result.norms)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        norm = result.norms[name]
        order = np.argsort(-norm)
        kept = np.isin(order, result.kept[name])
        ax.bar(np.arange(len(norm)), norm[order], color=np.where(kept, "tab:blue", "0.75"))
        ax.set_title(f"{name}: keep {kept.sum()} / {len(norm)}")
        ax.set_xlabel("filter / unit (sorted)")
    axes[0][0].set_ylabel("norm of its weights")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
