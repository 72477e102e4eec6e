"""Model size search over the CNN template: the space, its validity rules, and the ranking views.

The template ``Input -> (Conv -> MaxPool x Pi) x N -> Flatten -> (Dense -> regulariser) x M
-> softmax`` (:class:`tinyml_utils.model.cnn.CNNSpec`) spans a space of (N, M, Pi, widths).
This module holds what the project adds around the search engine (Optuna, in
:mod:`tinyml_utils.optimize.optuna_search`):

* :class:`SearchSpace` and :func:`spec_from_point`: a point of the space becomes a
  :class:`CNNSpec`, or is rejected **with the reason** (pooling below one step, too many
  parameters); :func:`enumerate_candidates` lists the whole grid that way, duplicates
  named ("same model as ...");
* the measurements: :func:`count_macs`, :func:`tflite_accuracy` (the int8 file, run);
* the ranking views over a table of measured candidates (one row per trial):
  :func:`add_loss` (the reference weighted loss), :func:`pareto_mask` / :func:`add_pareto`,
  :func:`plot_pareto`, :func:`loss_widget`.

**The loss.** Every term is made dimensionless before averaging:

* accuracy term = ``1 - val_accuracy`` (already in [0, 1]);
* size term = ``weights_bytes / max(weights_bytes)`` over the table: 1 for the biggest
  candidate, near 0 for a tiny one (int8 weights + biases stored in the .tflite);
* arena term = ``arena_bytes / max(arena_bytes)`` (the measured TFLM arena, i.e. RAM);
* latency term = ``macs / max(macs)``: multiply-accumulates per inference. On a Cortex-M
  running int8 kernels, time is close to proportional to MACs, and unlike a timing taken on
  a shared PC it is exact and repeatable; it is a *proxy* for latency, not a measurement.

``loss = (wa * acc_term + ws * size_term + wr * arena_term + wl * latency_term) / (wa + ws +
wr + wl)``, so the weights only need to be relative. Lower is better. The loss is a *view*
over the study's trials: the search itself is multi-objective (no weights to choose
before searching), and the loss picks one point of its front afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import DataError
from tinyml_utils.core.tf import keras
from tinyml_utils.model.cnn import CNNSpec
from tinyml_utils.model.train import weights_bytes
from tinyml_utils.tflite.compute import total_macs
from tinyml_utils.tflite.convert import convert
from tinyml_utils.tflite.interpreters import run_tflite
from tinyml_utils.tflite.reader import model_info
from tinyml_utils.tflite.tflm import measure_arena

# --------------------------------------------------------------------------- the space


@dataclass(frozen=True)
class SearchSpace:
    """The grid: every combination of these options is one candidate.

    Attributes:
        n_conv: choices for N, the number of conv blocks.
        n_dense: choices for M, the number of hidden dense layers.
        pools: choices for Pi, max-pool layers after each conv block (same for every block).
        base_filters: filters of the first conv block; block i has
            ``base * filter_growth**i`` (the usual "double the filters as you pool").
        dense_units: units of the first dense layer; each next one has half as many.
        kernel_size, pool_size, regulariser, dropout_rate: as in :class:`CNNSpec`.
        max_params: candidates with more parameters are rejected before training
            (None: no limit).
    """

    n_conv: tuple[int, ...] = (1, 2, 3)
    n_dense: tuple[int, ...] = (0, 1)
    pools: tuple[int, ...] = (1, 2)
    base_filters: tuple[int, ...] = (4, 8, 16)
    dense_units: tuple[int, ...] = (16, 32)
    kernel_size: int = 3
    pool_size: int = 2
    filter_growth: int = 2
    regulariser: str = "dropout"
    dropout_rate: float = 0.2
    max_params: int | None = None

    def size(self) -> int:
        """Number of grid points before removing invalid ones and duplicates."""
        return (
            len(self.n_conv)
            * len(self.n_dense)
            * len(self.pools)
            * len(self.base_filters)
            * len(self.dense_units)
        )


#: named spaces: ``quick`` for CI and first runs, ``notebook`` the grid notebook 05 teaches,
#: ``wide`` a space too big for a grid (the multi-objective samplers' job).
SPACES = {
    "quick": SearchSpace(
        n_conv=(1, 2),
        n_dense=(0, 1),
        pools=(2,),
        base_filters=(4,),
        dense_units=(8,),
        kernel_size=5,
    ),
    "notebook": SearchSpace(
        n_conv=(1, 2, 3),
        n_dense=(0, 1),
        pools=(1, 2),
        base_filters=(4, 8, 16),
        dense_units=(16,),
        kernel_size=5,
    ),
    "wide": SearchSpace(
        n_conv=(0, 1, 2, 3, 4),
        n_dense=(0, 1, 2),
        pools=(1, 2, 3),
        base_filters=(2, 4, 8, 16, 32),
        dense_units=(8, 16, 32, 64),
        kernel_size=5,
        max_params=100_000,
    ),
}


@dataclass
class Enumeration:
    """Output of :func:`enumerate_candidates`: valid specs and rejected points with reasons."""

    specs: list[CNNSpec] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (point, reason)

    def rejected_table(self):
        return pd.DataFrame(self.rejected, columns=["candidate", "rejected because"])


def _point_label(n: int, m: int, p: int, f: int, u: int) -> str:
    return f"N={n} M={m} Pi={p} filters={f} units={u}"


def spec_from_point(
    space: SearchSpace,
    input_shape: Sequence[int],
    num_classes: int,
    n: int,
    m: int,
    p: int,
    f: int,
    u: int,
) -> tuple[CNNSpec | None, str]:
    """The :class:`CNNSpec` of one point of ``space``, or None and the reason it is invalid.

    The spec is canonical: with N = 0 the pool and filter choices are dropped, with M = 0
    the units choice, so two points that build the same model give equal specs.
    """
    if n < 0 or m < 0 or p < 0 or f < 1 or u < 1:
        return None, "negative or zero size"
    spec = CNNSpec(
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        conv_filters=tuple(f * space.filter_growth**i for i in range(n)),
        pools=p if n else 0,  # without conv blocks Pi means nothing: one canonical value
        dense_units=tuple(max(1, u // 2**i) for i in range(m)),
        kernel_size=space.kernel_size,
        pool_size=space.pool_size,
        regulariser=space.regulariser,
        dropout_rate=space.dropout_rate,
    )
    try:
        spec.output_steps()
    except DataError as exc:
        return None, str(exc)
    params = spec_params(spec)
    if space.max_params is not None and params > space.max_params:
        return None, f"{params:,} parameters > max_params {space.max_params:,}"
    return spec, ""


def spec_params(spec: CNNSpec) -> int:
    """Parameters of ``spec``'s model, computed from the spec alone (no Keras needed)."""
    steps = spec.output_steps()
    spatial = len(spec.input_shape) - 1
    k = spec.kernel_size**spatial
    params, channels = 0, spec.input_shape[-1]
    for filters in spec.conv_filters:
        params += k * channels * filters + filters
        channels = filters
    features = int(np.prod(steps)) * channels
    for units in spec.dense_units:
        params += features * units + units
        if spec.regulariser == "batchnorm":
            params += 4 * units
        features = units
    return params + features * spec.num_classes + spec.num_classes


def enumerate_candidates(
    space: SearchSpace, input_shape: Sequence[int], num_classes: int
) -> Enumeration:
    """All valid :class:`CNNSpec` of ``space`` for this input; invalid points with the reason.

    A point is rejected when its pooling shrinks the input below one step, when it is a
    duplicate of an earlier point (with N = 0 the pool and filter choices do not matter;
    with M = 0 the units choice does not), or when it exceeds ``space.max_params``.
    """
    result = Enumeration()
    seen: dict[CNNSpec, str] = {}
    for n, m, p, f, u in itertools.product(
        space.n_conv, space.n_dense, space.pools, space.base_filters, space.dense_units
    ):
        label = _point_label(n, m, p, f, u)
        spec, reason = spec_from_point(space, input_shape, num_classes, n, m, p, f, u)
        if spec is None:
            result.rejected.append((label, reason))
            continue
        if spec in seen:
            result.rejected.append((label, f"same model as {seen[spec]}"))
            continue
        seen[spec] = label
        result.specs.append(spec)
    return result


# --------------------------------------------------------------------------- measuring


def count_macs(model) -> int:
    """Multiply-accumulates of one inference of a Keras model (batch 1).

    Counted on the model's float32 .tflite file by :func:`tinyml_utils.tflite.compute.total_macs`
    (conv: output positions x kernel size x input channels x filters; fully connected: inputs
    x units), so the search, pruning and the benchmark report one and the same figure.
    """
    return _macs_of(convert(model, "float32"))


def _macs_of(model_bytes: bytes) -> int:
    return int(total_macs(model_info(model_bytes)))


def tflite_accuracy(model_bytes: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of a .tflite model on (x, y), measured by running the file (ai_edge_litert)."""
    if len(x) == 0:
        raise DataError("no examples to evaluate on (empty x).")
    pred = run_tflite(model_bytes, x).argmax(axis=-1)
    return float(np.mean(pred == np.asarray(y)))


def _default_arena(model_bytes: bytes) -> int | None:
    return measure_arena(model_bytes).arena_bytes


def _weights_bytes(model_bytes: bytes) -> int:
    return int(weights_bytes(model_bytes))


def compile_model(model, learning_rate: float = 1e-3) -> None:
    """Adam + sparse categorical cross-entropy + accuracy: how every candidate is trained."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


# --------------------------------------------------------------------------- ranking


LOSS_TERMS = {
    "accuracy": "acc_term",
    "size": "size_term",
    "arena": "arena_term",
    "latency": "latency_term",
}


def add_loss(
    table,
    w_accuracy: float = 0.5,
    w_size: float = 0.5,
    w_arena: float = 0.0,
    w_latency: float = 0.0,
    accuracy_col: str = "val_accuracy",
):
    """The search loss (lower is better), as a weighted average of normalised terms.

    Adds ``acc_term`` (1 - accuracy), ``size_term`` (weights_bytes / max), ``arena_term``
    (arena_bytes / max; a candidate TFLM cannot run gets 1) and ``latency_term`` (macs /
    max), then ``loss``; returns the table sorted by loss. The weights are normalised to
    sum to 1, so (0.7, 0.3) and (7, 3) rank identically.
    """
    weights = np.array([w_accuracy, w_size, w_arena, w_latency], dtype=float)
    if (weights < 0).any() or weights.sum() == 0:
        raise DataError(f"loss weights must be >= 0 and not all 0, got {weights.tolist()}.")
    weights = weights / weights.sum()
    out = table.copy()
    out["acc_term"] = 1.0 - out[accuracy_col].astype(float)
    out["size_term"] = out["weights_bytes"] / out["weights_bytes"].max()
    arena = out["arena_bytes"].astype(float)
    out["arena_term"] = (arena / arena.max()).fillna(1.0) if arena.notna().any() else 1.0
    out["latency_term"] = out["macs"] / max(out["macs"].max(), 1)
    terms = out[["acc_term", "size_term", "arena_term", "latency_term"]].to_numpy(float)
    out["loss"] = np.round(terms @ weights, 4)
    for col in ("acc_term", "size_term", "arena_term", "latency_term"):
        out[col] = out[col].astype(float).round(4)
    return out.sort_values("loss", kind="stable").reset_index(drop=True)


def pareto_mask(points: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Which rows of ``points`` (n, k) are Pareto-optimal.

    ``maximize[j]`` says whether objective j is better high (accuracy) or low (bytes). A
    point is on the front when no other point is at least as good in every objective and
    strictly better in one. Rows with NaN are never on the front.
    """
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != len(maximize):
        raise DataError(f"points must be (n, {len(maximize)}), got shape {pts.shape}.")
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    cost = pts * signs  # everything becomes "lower is better"
    valid = ~np.isnan(cost).any(axis=1)
    front = np.zeros(len(pts), dtype=bool)
    for i in np.flatnonzero(valid):
        others = cost[valid]
        dominated = np.any(np.all(others <= cost[i], axis=1) & np.any(others < cost[i], axis=1))
        front[i] = not dominated
    return front


def add_pareto(table, accuracy_col: str = "val_accuracy"):
    """Add ``pareto_size`` (front of accuracy vs weights bytes) and ``pareto_arena``."""
    out = table.copy()
    acc = out[accuracy_col].astype(float)
    out["pareto_size"] = pareto_mask(
        np.c_[acc, out["weights_bytes"].astype(float)], maximize=(True, False)
    )
    out["pareto_arena"] = pareto_mask(
        np.c_[acc, out["arena_bytes"].astype(float)], maximize=(True, False)
    )
    return out


def _log_ticks(ax, values: np.ndarray) -> None:
    """A log x axis labelled with plain numbers (0.5, 1, 2, 5, ...), few enough not to
    overlap whatever the span: 1-2-5 over a few decades, powers of 10 over many, evenly
    spaced ticks over less than half a decade (where no 1-2-5 value may fall)."""
    from matplotlib import ticker

    ax.set_xscale("log")
    finite = values[np.isfinite(values) & (values > 0)]
    decades = np.log10(finite.max() / finite.min()) if len(finite) else 1.0
    if decades < 0.5:
        major = ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])
    else:
        major = ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2.5 else (1.0,))
    ax.xaxis.set_major_locator(major)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def plot_pareto(table, accuracy_col: str = "val_accuracy", title: str = ""):
    """Two panels: accuracy vs int8 weights KB and vs measured arena KB, fronts highlighted."""
    import matplotlib.pyplot as plt

    table = add_pareto(table, accuracy_col)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, col, front_col, label in (
        (axes[0], "weights_bytes", "pareto_size", "int8 weights (KB, log scale)"),
        (axes[1], "arena_bytes", "pareto_arena", "measured TFLM arena (KB, log scale)"),
    ):
        x = table[col].astype(float) / 1024
        y = table[accuracy_col].astype(float)
        front = table[front_col].to_numpy(bool)
        ax.scatter(x[~front], y[~front], c="0.6", s=25, label="candidate")
        order = np.argsort(x[front].to_numpy())
        ax.plot(
            x[front].to_numpy()[order],
            y[front].to_numpy()[order],
            "o-",
            c="tab:red",
            label="Pareto front",
        )
        names = table.loc[front, "candidate"].to_numpy()[order]
        points = zip(x[front].to_numpy()[order], y[front].to_numpy()[order], names, strict=True)
        for k, (xi, yi, name) in enumerate(points):  # neighbours alternate below / above
            ax.annotate(
                name.replace("cnn_", ""),
                (xi, yi),
                fontsize=7,
                xytext=(3, -9 if k % 2 == 0 else 5),
                textcoords="offset points",
            )
        _log_ticks(ax, x.to_numpy())
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{accuracy_col} (int8 .tflite)")
    axes[0].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_widget(table, w_arena: float = 0.0, w_latency: float = 0.0, top: int = 8):
    """An ipywidgets slider for the accuracy/size weight that re-ranks ``table`` live.

    The ranking is shown in an ``HTML`` widget whose value the slider rewrites. (An
    ``Output`` widget with ``clear_output`` would be simpler, but it can leave papermill /
    nbclient waiting forever in a headless run.) Building and displaying the widget is
    harmless headless; it only reacts in a live kernel. Returns None without ipywidgets.
    """
    try:
        import ipywidgets as widgets
    except ImportError:
        return None

    slider = widgets.FloatSlider(
        value=0.5,
        min=0.0,
        max=1.0,
        step=0.05,
        description="w_accuracy",
        continuous_update=False,
        readout_format=".2f",
    )
    view = widgets.HTML()
    cols = ["candidate", "val_accuracy", "weights_bytes", "arena_bytes", "loss"]

    def render(change=None) -> None:
        w = slider.value
        ranked = add_loss(table, w, 1.0 - w, w_arena, w_latency)
        view.value = (
            f"<p>loss = {w:.2f} &times; (1 - accuracy) + {1 - w:.2f} &times; size"
            f" (+ arena {w_arena}, latency {w_latency})</p>"
            + ranked[cols].head(top).to_html(index=False)
        )

    slider.observe(render, names="value")
    render()
    return widgets.VBox([slider, view])
