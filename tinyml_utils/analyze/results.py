"""The benchmark's results: :class:`ModelBenchmark` per model, :class:`BenchmarkReport` for
all of them (tables), :class:`LabelledData` for accuracy. Written out by :mod:`.render`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.analyze.render import arena_parts, report_markdown, save_report, with_source
from tinyml_utils.tflite import compute, memory
from tinyml_utils.tflite.interpreters import ModelLike

ModelsArg = ModelLike | Sequence[ModelLike] | Mapping[str, ModelLike]


def empty_frame():
    import pandas as pd

    return pd.DataFrame()


@dataclass
class LabelledData:
    """Inputs and integer labels to measure accuracy on, with where they come from."""

    x: np.ndarray
    y: np.ndarray
    description: str


@dataclass
class ModelBenchmark:
    """All figures of one model; DataFrames are empty when a stage did not run."""

    name: str
    source: str
    error: str | None = None
    info: Any = field(default=None, repr=False)
    ops: Any = field(default_factory=empty_frame, repr=False)
    layers: Any = field(default_factory=empty_frame, repr=False)
    tensors: Any = field(default_factory=empty_frame, repr=False)
    weights: Any = field(default_factory=empty_frame, repr=False)
    plan: memory.ArenaPlan | None = field(default=None, repr=False)
    memory: Any = field(default_factory=empty_frame, repr=False)
    support: Any = field(default=None, repr=False)
    arena: Any = None
    allocations: Any = field(default_factory=empty_frame, repr=False)
    latency: Any = None
    latency_error: str | None = None
    accuracy: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> dict[str, Any]:
        """The model's row of the comparison table."""
        row: dict[str, Any] = {"model": self.name}
        info = self.info
        if info is not None:
            weights = self.weights
            row.update(
                file_bytes=info.file_bytes,
                n_ops=len(info.ops),
                op_types=", ".join(f"{k} x{v}" for k, v in info.op_counts().items()),
                n_tensors=len(info.tensors),
                weights=int(weights["weights"].sum()) if len(weights) else 0,
                weight_bytes=int(weights["bytes"].sum()) if len(weights) else 0,
                weight_dtypes=", ".join(sorted(weights["dtype"])) if len(weights) else "",
                input=io_text(info, info.inputs),
                output=io_text(info, info.outputs),
                macs=compute.total_macs(info),
            )
        if self.plan is not None:
            row.update(
                planned_peak_bytes=self.plan.peak,
                live_lower_bound_bytes=self.plan.lower_bound,
            )
        if self.arena is not None:
            totals = arena_parts(self.allocations)
            row.update(
                tflm_runs=self.arena.runs,
                tflm_arena_bytes=self.arena.arena_bytes,
                tflm_recorded_bytes=self.arena.recorded_total,
                tflm_head_bytes=totals.get("arena head"),
                tflm_tail_bytes=totals.get("arena tail"),
                tflm_reason="" if self.arena.runs else self.arena.reason,
            )
        if self.latency is not None:
            lat = self.latency
            row.update(
                threads=lat.threads,
                runs=lat.runs,
                init_ms=round(lat.init_ms, 4),
                first_ms=round(lat.first_ms, 4),
                warmup_mean_ms=round(lat.warmup_mean_ms, 4),
                mean_ms=round(lat.mean_ms, 4),
                median_ms=round(lat.median_ms, 4),
                p90_ms=round(lat.p90_ms, 4),
            )
        elif self.latency_error:
            row["latency_error"] = self.latency_error
        if self.accuracy is not None:
            row.update(self.accuracy)
        row["error"] = self.error or ""
        return row


def io_text(info, indices: list[int]) -> str:
    parts = []
    for i in indices:
        t = info.tensors[i]
        parts.append(f"{'x'.join(map(str, t.shape))} {t.dtype}")
    return "; ".join(parts)


@dataclass
class BenchmarkReport:
    """Results of :func:`benchmark`: one :class:`ModelBenchmark` per model + a comparison."""

    models: list[ModelBenchmark]
    data_description: str = ""
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def comparison(self):
        """DataFrame, one row per model (see :meth:`ModelBenchmark.summary`)."""
        import pandas as pd

        return pd.DataFrame([m.summary() for m in self.models])

    def planned_vs_measured(self):
        """DataFrame: planned peak vs TFLM's measured arena, and how far apart they are.

        ``tflm_head_bytes`` is TFLM's planned (non-persistent) part, comparable with our
        plan; ``tflm_tail_bytes`` its persistent part; ``tflm_recorded_bytes`` what it
        used with a generous arena; ``tflm_arena_bytes`` the smallest arena that works
        (it can exceed the recorded use: the planner needs working memory while it plans).
        """
        import pandas as pd

        rows = []
        for m in self.models:
            if m.plan is None:
                continue
            s = m.summary()
            arena = s.get("tflm_arena_bytes")
            head = s.get("tflm_head_bytes")
            rows.append(
                {
                    "model": m.name,
                    "planned_peak_bytes": m.plan.peak,
                    "live_lower_bound_bytes": m.plan.lower_bound,
                    "tflm_head_bytes": head,
                    "tflm_tail_bytes": s.get("tflm_tail_bytes"),
                    "tflm_recorded_bytes": s.get("tflm_recorded_bytes"),
                    "tflm_arena_bytes": arena,
                    "arena / planned": round(arena / m.plan.peak, 2)
                    if arena and m.plan.peak
                    else None,
                    "tflm_runs": s.get("tflm_runs"),
                }
            )
        return pd.DataFrame(rows)

    def __getitem__(self, name: str) -> ModelBenchmark:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"{name!r}: models are {[m.name for m in self.models]}")

    @property
    def errors(self) -> list[str]:
        return [with_source(m) for m in self.models if m.error]

    def to_markdown(self) -> str:
        return report_markdown(self)

    def save(self, out_dir: str | os.PathLike, plots: bool = True) -> list[Path]:
        """Write CSV, XLSX, Markdown, HTML and PNG files into ``out_dir``; returns the paths."""
        self.out_dir = Path(out_dir)
        self.files = save_report(self, self.out_dir, plots)
        return self.files
