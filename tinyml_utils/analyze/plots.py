"""Plots of the benchmark: the arena timeline, per-op cost, and models side by side.

Every function returns a matplotlib Figure (save it with ``report.save_figure``). In a
process without a display (papermill, CI, the ``tinyml`` command) matplotlib's Agg backend
is selected before pyplot is imported.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from tinyml_utils.tflite.memory import ArenaPlan


def _pyplot():
    import matplotlib

    headless = not os.environ.get("DISPLAY") and sys.platform.startswith("linux")
    if headless and "matplotlib.pyplot" not in sys.modules and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_arena(
    plan: ArenaPlan,
    title: str = "",
    tflm_head: int | None = None,
    tflm_arena: int | None = None,
    max_labels: int = 40,
):
    """Op index (x) vs arena offset (y): one rectangle per activation tensor.

    A rectangle spans the ops during which the tensor is alive and the bytes it occupies.
    The dashed line is the planned peak; TFLM's measured non-persistent "head" and full
    arena are drawn when given.
    """
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    cmap = plt.get_cmap("tab20")
    n_ops = max(plan.n_ops, 1)
    for i, b in enumerate(sorted(plan.buffers, key=lambda b: (b.first, b.tensor or 0))):
        size = -(-b.size // plan.alignment) * plan.alignment
        rect = Rectangle(
            (b.first - 0.45, b.offset or 0),
            b.last - b.first + 0.9,
            max(size, 1),
            facecolor=cmap(i % 20),
            edgecolor="black",
            linewidth=0.6,
            alpha=0.85,
        )
        ax.add_patch(rect)
        if len(plan.buffers) <= max_labels:
            ax.text(
                (b.first + b.last) / 2,
                (b.offset or 0) + size / 2,
                f"t{b.tensor}" if b.tensor is not None else b.name[:8],
                ha="center",
                va="center",
                fontsize=7,
            )
    ymax = max(plan.peak, 1)
    ax.axhline(plan.peak, color="black", linestyle="--", linewidth=1)
    ax.text(n_ops - 0.5, plan.peak, f" planned peak {plan.peak:,} B", va="bottom", ha="right")
    for value, label, color in (
        (tflm_head, "TFLM head (measured)", "tab:red"),
        (tflm_arena, "TFLM arena (measured)", "tab:purple"),
    ):
        if value:
            ax.axhline(value, color=color, linestyle=":", linewidth=1.2)
            ax.text(-0.5, value, f" {label} {value:,} B", va="bottom", color=color, fontsize=8)
            ymax = max(ymax, value)
    ax.set_xlim(-0.6, n_ops - 0.4)
    ax.set_ylim(0, ymax * 1.12)
    ax.set_xlabel("op index (execution order)")
    ax.set_ylabel("offset in the arena (bytes)")
    ax.set_title(title or "Activation tensors in the planned arena")
    fig.tight_layout()
    return fig


def plot_per_op(layers: pd.DataFrame, title: str = ""):
    """Two bar charts over the ops: MACs, and bytes (weights and activations)."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    x = list(range(len(layers)))
    labels = [f"{i}:{op}" for i, op in zip(layers["index"], layers["op"], strict=True)]
    ax1.bar(x, layers["macs"].fillna(0).astype(float), color="tab:blue")
    ax1.set_ylabel("MACs")
    ax1.set_title(title or "Compute and memory per op")
    width = 0.4
    ax2.bar([i - width / 2 for i in x], layers["weight_bytes"], width, label="weights (flash)")
    ax2.bar([i + width / 2 for i in x], layers["activation_bytes"], width, label="activations")
    ax2.set_ylabel("bytes")
    ax2.legend(fontsize=8)
    ax2.set_xticks(x)
    ax2.set_xticklabels(labels, rotation=70, ha="right", fontsize=7)
    fig.tight_layout()
    return fig


def plot_comparison(comparison: pd.DataFrame):
    """Models side by side: file size, planned peak / TFLM arena, and median latency."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    names = list(comparison["model"])
    x = list(range(len(names)))

    def bars(ax, column: str, label: str, offset: float = 0.0, width: float = 0.8):
        if column in comparison:
            values = comparison[column].astype(float).fillna(0)
            ax.bar([i + offset for i in x], values, width, label=label)

    bars(axes[0], "file_bytes", "file")
    axes[0].set_title("model file (bytes)")
    bars(axes[1], "planned_peak_bytes", "planned peak", -0.2, 0.4)
    bars(axes[1], "tflm_arena_bytes", "TFLM arena", 0.2, 0.4)
    axes[1].set_title("RAM: planned vs TFLM arena (bytes)")
    axes[1].legend(fontsize=8)
    bars(axes[2], "median_ms", "median")
    axes[2].set_title("latency, median (ms)")
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    return fig
