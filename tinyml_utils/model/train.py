"""Training and evaluation: seeded fitting, metrics per class, confusion matrices, and the
table that compares the four .tflite variants of one model.

    from tinyml_utils import apps
    from tinyml_utils.model import train
    from tinyml_utils.model.cnn import build_cnn

    data = apps.prepare("motionsense", source="synthetic", quick=True)
    model = build_cnn(apps.default_spec("motionsense", data))
    history = train.train(model, data, epochs=10)
    result = train.evaluate_keras(model, data.x_test, data.y_test, data.class_names)
    result.per_class, result.confusion          # pandas tables
    table = train.conversion_table(model, data, out_dir="outputs")

Every accuracy of a .tflite file is measured by running that file (``TFLiteRunner``,
which quantizes int8 inputs with the file's own scale and zero point), not the Keras model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import DataError
from tinyml_utils.tflite import tflm
from tinyml_utils.tflite.convert import convert
from tinyml_utils.tflite.interpreters import TFLiteRunner, TFLMRunner
from tinyml_utils.tflite.reader import model_info

# --------------------------------------------------------------------------- threads + seed


def configure_threads(intra_op: int = 1, inter_op: int = 1) -> bool:
    """Limit TensorFlow's CPU threads (call before the first model is built).

    Small models train as fast on one or two threads, and a shared machine stays usable.
    Returns False if TensorFlow was already initialised (the setting then cannot change).
    """
    from tinyml_utils.core.tf import tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        return False
    return True


def set_seed(seed: int = 0) -> None:
    """Seed Python, numpy and TensorFlow (weights init, shuffling, dropout)."""
    from tinyml_utils.core.tf import keras

    keras.utils.set_random_seed(seed)


# --------------------------------------------------------------------------- training


def class_weights(y: np.ndarray, num_classes: int | None = None) -> dict[int, float]:
    """Weights ``n / (k * count_c)`` so every class contributes equally to the loss.

    Use them when one class is rare (keyword spotting: the wake word is a few % of the
    clips). A class absent from ``y`` gets weight 0.
    """
    y = np.asarray(y, dtype=np.int64)
    k = num_classes or int(y.max()) + 1
    counts = np.bincount(y, minlength=k).astype(np.float64)
    return {c: (float(len(y) / (k * counts[c])) if counts[c] else 0.0) for c in range(k)}


def train(
    model,
    data,
    epochs: int = 30,
    batch_size: int = 32,
    seed: int = 0,
    verbose: int | str = "auto",
    class_weight: dict[int, float] | str | None = None,
    patience: int | None = 8,
    learning_rate: float = 1e-3,
    monitor: str = "val_loss",
    compile: bool = True,
    schedule: str = "constant",
):
    """Fit ``model`` on ``data.x_train`` with early stopping on the validation split.

    When ``data.augmenter`` is set (keyword spotting), every batch is altered afresh by it
    (:class:`AugmentedBatches`): the model never sees the same example twice, and no
    augmented copy is ever stored.

    Args:
        model: a Keras model (e.g. ``models.build_cnn(spec)``) ending in a softmax.
        data: a :class:`tinyml_utils.apps.PreparedData` (or anything with x_train, y_train,
            x_val, y_val).
        epochs: the maximum number of epochs.
        batch_size: examples per gradient step.
        seed: seeds weights' shuffling and dropout, so a run can be repeated.
        verbose: Keras progress (1 = progress bar, 2 = one line per epoch, 0 = silent).
        class_weight: None, a dict class -> weight, or ``"balanced"`` (:func:`class_weights`).
        patience: epochs without improvement of ``monitor`` before stopping; the best
            epoch's weights are restored. None disables early stopping.
        learning_rate: Adam's learning rate.
        monitor: the validation metric early stopping watches.
        compile: compile with Adam + sparse categorical cross-entropy + accuracy; pass False
            to keep your own ``model.compile(...)``.
        schedule: "constant" learning rate, or "cosine": decays from ``learning_rate`` to
            2 % of it over the epochs (suits a fixed number of epochs, ``patience=None``).

    Returns:
        The Keras ``History`` (``history.history["val_accuracy"]`` etc.).
    """
    from tinyml_utils.core.tf import keras

    for name in ("x_train", "y_train", "x_val", "y_val"):
        if getattr(data, name, None) is None:
            raise DataError(f"data has no {name}: pass the result of apps.prepare(...).")
    if len(data.x_train) == 0:
        raise DataError("the training split is empty: use more data or a smaller test_size.")
    if schedule not in ("constant", "cosine"):
        raise DataError(f"schedule must be 'constant' or 'cosine', got {schedule!r}.")
    set_seed(seed)
    augmenter = getattr(data, "augmenter", None)
    x_train: Any = np.asarray(data.x_train, np.float32)
    y_train: Any = np.asarray(data.y_train)
    steps = int(np.ceil(len(data.y_train) / batch_size))
    if augmenter is not None:
        x_train = AugmentedBatches(data.x_train, data.y_train, augmenter, batch_size, seed)
        y_train, steps = None, len(x_train)
    lr: Any = learning_rate
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, steps * epochs, alpha=0.02)
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(lr),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    if class_weight == "balanced":
        class_weight = class_weights(data.y_train, int(model.output_shape[-1]))
    has_val = len(data.x_val) > 0
    callbacks = []
    if patience is not None and has_val:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=patience, restore_best_weights=True
            )
        )
    validation = None
    if has_val:
        validation = (np.asarray(data.x_val, np.float32), np.asarray(data.y_val))
    return model.fit(
        x_train,
        y_train,
        validation_data=validation,
        epochs=epochs,
        batch_size=None if augmenter is not None else batch_size,
        class_weight=class_weight,
        callbacks=callbacks,
        shuffle=augmenter is None,
        verbose=verbose,
    )


def AugmentedBatches(x, y, augmenter, batch_size: int = 64, seed: int = 0):  # noqa: N802
    """A Keras Sequence of training batches, each altered afresh by ``augmenter(x_batch)``.

    ``augmenter`` is a callable on a float32 batch; if it has a ``positive_share`` (a
    fraction) above class 1's natural share, every epoch holds each other example once and
    class-1 examples drawn with replacement until they make that share of it: the rare wake word is then seen in many altered versions
    instead of being weighted up. Epochs are reshuffled with ``seed``.
    """
    from tinyml_utils.core.tf import keras

    class _Batches(keras.utils.Sequence):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.x, self.y = x, np.asarray(y, np.int64)
            self.new_epoch()

        def new_epoch(self) -> None:
            share = getattr(augmenter, "positive_share", None)
            pos, neg = np.flatnonzero(self.y == 1), np.flatnonzero(self.y != 1)
            idx = np.arange(len(self.y))
            n_pos = int(round(share / (1 - share) * len(neg))) if share and len(neg) else 0
            if len(pos) and n_pos > len(pos):  # oversample; never when already above the share
                idx = np.concatenate([neg, self.rng.choice(pos, n_pos, replace=True)])
            self.idx = self.rng.permutation(idx)

        def __len__(self) -> int:
            return int(np.ceil(len(self.idx) / batch_size))

        def __getitem__(self, b: int):
            ii = np.sort(self.idx[b * batch_size : (b + 1) * batch_size])
            return augmenter(np.asarray(self.x[ii], np.float32)), self.y[ii]

        def on_epoch_end(self) -> None:
            self.new_epoch()

    return _Batches()


# --------------------------------------------------------------------------- evaluation


@dataclass
class EvalResult:
    """Metrics of one model on one labelled set.

    Attributes:
        accuracy: fraction of examples whose predicted class is right.
        balanced_accuracy: mean per-class recall (robust to class imbalance).
        per_class: DataFrame indexed by class name: recall, precision, support.
        confusion: DataFrame of counts, rows = true class, columns = predicted class.
        y_true, y_pred: the labels and predictions; scores: the model outputs (float).
    """

    accuracy: float
    balanced_accuracy: float
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)
    scores: np.ndarray | None = field(default=None, repr=False)

    @property
    def per_class_recall(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.per_class["recall"].items()}

    @property
    def per_class_precision(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.per_class["precision"].items()}

    def false_alarm_rate(self, positive: int = 1) -> float:
        """Fraction of the examples of other classes predicted as class ``positive``."""
        negatives = self.y_true != positive
        if not negatives.any():
            return float("nan")
        return float(np.mean(self.y_pred[negatives] == positive))

    def summary(self) -> dict[str, Any]:
        """JSON-able numbers (for metrics.json / results.json)."""
        out: dict[str, Any] = {
            "accuracy": round(self.accuracy, 6),
            "balanced_accuracy": round(self.balanced_accuracy, 6),
            "n": int(len(self.y_true)),
            "per_class_recall": {k: round(v, 6) for k, v in self.per_class_recall.items()},
            "per_class_precision": {k: round(v, 6) for k, v in self.per_class_precision.items()},
            "confusion": self.confusion.values.tolist(),
        }
        if len(self.per_class) == 2:
            out["false_alarm_rate"] = round(self.false_alarm_rate(1), 6)
        return out

    def __str__(self) -> str:
        lines = [
            f"accuracy {self.accuracy:.2%}   balanced accuracy {self.balanced_accuracy:.2%}"
            f"   ({len(self.y_true)} examples)",
            "",
            self.per_class.to_string(float_format=lambda v: f"{v:.3f}"),
            "",
            "confusion (rows = true, columns = predicted):",
            self.confusion.to_string(),
        ]
        return "\n".join(lines)


def evaluate_predictions(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: list[str],
    scores: np.ndarray | None = None,
) -> EvalResult:
    """Accuracy, balanced accuracy, per-class recall/precision and the confusion matrix."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise DataError(f"labels {y_true.shape} and predictions {y_pred.shape} must match (N,).")
    if len(y_true) == 0:
        raise DataError("no examples to evaluate: the data set or split is empty.")
    k = len(class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    diag = np.diag(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, diag / support, np.nan)
        precision = np.where(predicted > 0, diag / predicted, np.nan)
    per_class = pd.DataFrame(
        {"recall": recall, "precision": precision, "support": support},
        index=pd.Index(class_names, name="class"),
    )
    present = support > 0
    return EvalResult(
        accuracy=float(diag.sum() / len(y_true)),
        balanced_accuracy=float(np.mean(recall[present])),
        per_class=per_class,
        confusion=pd.DataFrame(
            cm,
            index=pd.Index(class_names, name="true"),
            columns=pd.Index(class_names, name="predicted"),
        ),
        y_true=y_true,
        y_pred=y_pred,
        scores=scores,
    )


def evaluate_keras(model, x: np.ndarray, y: np.ndarray, class_names: list[str]) -> EvalResult:
    """Metrics of a Keras model on ``(x, y)``."""
    scores = model.predict(np.asarray(x, np.float32), verbose=0, batch_size=256)
    return evaluate_predictions(y, scores.argmax(axis=-1), class_names, scores)


def evaluate_tflite(
    model, x: np.ndarray, y: np.ndarray, class_names: list[str], runtime: str = "tflite"
) -> EvalResult:
    """Metrics of a .tflite model (bytes or path) on float inputs ``x``, labels ``y``.

    ``runtime="tflite"`` runs ai_edge_litert; ``"tflm"`` runs the tflite-micro kernels (only
    for models TFLM supports). int8 models get their inputs quantized with the file's own
    scale and zero point; the argmax of the output does not need dequantizing.
    """

    runner = TFLiteRunner(model) if runtime == "tflite" else TFLMRunner(model)
    scores = runner.predict(np.asarray(x, np.float32), dequantize_output=True)
    return evaluate_predictions(y, scores.reshape(len(y), -1).argmax(axis=-1), class_names, scores)


def plot_confusion(result: EvalResult | pd.DataFrame, normalize: bool = True, title: str = ""):
    """A confusion-matrix figure: colour = fraction of each true class, text = counts."""
    import matplotlib.pyplot as plt

    cm = result.confusion if isinstance(result, EvalResult) else result
    counts = cm.values.astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    shown = (
        np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalize else counts
    )
    k = len(cm)
    size = max(3.5, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shown[i, j] > 0.6 * (shown.max() or 1) else "black",
            )
    ax.set_xticks(range(k), [str(c) for c in cm.columns], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(c) for c in cm.index])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or ("confusion (colour: share of true class)" if normalize else "confusion"))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def plot_history(history, title: str = ""):
    """Training and validation accuracy/loss per epoch."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    h = history.history if hasattr(history, "history") else history
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for key in (metric, f"val_{metric}"):
            if key in h:
                ax.plot(np.arange(1, len(h[key]) + 1), h[key], label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.25
        ax.set_title(metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- variants


def weights_bytes(model) -> int:
    """Bytes of the constant tensors (weights, biases) stored in a .tflite file.

    This is the part of the flash that holds parameters; the rest of the file is the graph
    (operators, tensor shapes, quantization parameters, metadata).
    """

    return model_info(model).weights_bytes


def tflm_support(model) -> dict[str, Any]:
    """Does TFLM run ``model``, with which arena, and if not why (from analyze.tflm).

    Returns ``runs_on_tflm`` ("yes"/"no"), ``tflm_arena_bytes`` (smallest arena that
    allocates and invokes, None if it does not run) and ``tflm_reason`` (empty when it runs,
    else the first sentence of TFLM's own message, e.g. "Hybrid models are not supported").
    """

    report = tflm.measure_arena(model)
    reason = ""
    if not report.runs:
        reason = " ".join(str(report.reason or "").split())[:200]
    return {
        "runs_on_tflm": "yes" if report.runs else "no",
        "tflm_arena_bytes": int(report.arena_bytes) if report.runs and report.arena_bytes else None,
        "tflm_reason": reason,
    }


def _shown_path(path: Path) -> str:
    """The path relative to the working folder (tables in saved notebooks carry no machine
    paths); still opens from where the notebook runs."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def conversion_table(
    model,
    data,
    out_dir: str | os.PathLike | None = None,
    variants: tuple[str, ...] = ("float32", "float16", "dynamic_range", "int8"),
    stem: str = "model",
    measure_tflm: bool = True,
    max_eval: int | None = None,
) -> pd.DataFrame:
    """Convert ``model`` to each variant and measure every file.

    Columns: variant, file, weights_bytes, model_bytes, accuracy and balanced_accuracy
    (measured by running the .tflite file on ``data.x_test``), runs_on_tflm (yes/no),
    tflm_reason (why not, from TFLM itself), tflm_arena_bytes (smallest arena that
    allocates and invokes). int8 calibration uses ``data.x_train``.

    ``out_dir``: where ``<stem>_<variant>.tflite`` files are written (None: not saved).
    ``max_eval``: evaluate on the first ``max_eval`` test examples only (quick runs).
    """

    x_test, y_test = data.x_test, data.y_test
    if max_eval is not None:
        x_test, y_test = x_test[:max_eval], y_test[:max_eval]
    rows = []
    for variant in variants:
        blob = convert(model, variant, representative_data=data.x_train)
        path = None
        if out_dir is not None:
            path = Path(out_dir) / f"{stem}_{variant}.tflite"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        result = evaluate_tflite(blob, x_test, y_test, data.class_names)
        row: dict[str, Any] = {
            "variant": variant,
            "file": _shown_path(path) if path else "",
            "weights_bytes": weights_bytes(blob),
            "model_bytes": len(blob),
            "accuracy": round(result.accuracy, 4),
            "balanced_accuracy": round(result.balanced_accuracy, 4),
        }
        if measure_tflm:
            row.update(tflm_support(blob))
        rows.append(row)
    table = pd.DataFrame(rows)
    if "tflm_arena_bytes" in table:  # whole bytes, with <NA> where TFLM does not run
        table["tflm_arena_bytes"] = table["tflm_arena_bytes"].astype("Int64")
    return table
