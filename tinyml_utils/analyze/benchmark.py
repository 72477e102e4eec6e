"""Every figure of a .tflite model, in one call: structure, memory, compute, latency, accuracy.

::

    from tinyml_utils.analyze.benchmark import benchmark
    report = benchmark(["model_float32.tflite", "model_int8.tflite"], data="test.npz",
                       runs=50, out_dir="outputs/benchmark")
    report.comparison            # one row per model (pandas DataFrame)
    report["model_int8"].layers  # per-op MACs and bytes; also .ops .tensors .memory ...

or from a terminal: ``tinyml benchmark model_*.tflite --data test.npz --out outputs/bench``.

What each model gets (the names are the DataFrame attributes of :class:`ModelBenchmark`):

1. Structure (``ops``, ``tensors``, ``weights``): the ops used with counts and versions,
   weights and their bytes by dtype, the file size, every tensor (shape, dtype,
   quantization, bytes, producer and consumers, constant or activation).
2. Memory (``memory``, ``plan``, ``arena``, ``allocations``): each activation tensor's
   lifetime and offset in a greedy arena plan (:mod:`.memory`), the planned peak, then the
   real TFLM arena (:func:`.tflm.measure_arena`) with TFLM's allocation breakdown, and
   whether TFLM runs the model at all (with the reason).
3. Compute (``layers``): MACs per op from the shapes (:mod:`.compute` says what is counted).
4. Latency (``latency``): ai_edge_litert timings (:mod:`.latency`), threads stated.
5. Accuracy (``accuracy``) when labelled data is given: computed on the .tflite itself,
   int8 inputs quantized with the model's own scale and zero point.

Files written by :meth:`BenchmarkReport.save`: ``comparison.csv/.md``, ``benchmark.xlsx``
(a comparison sheet + one sheet per model), ``summary.md``, ``summary.html``,
``comparison.png`` and, per model, a folder with the tables as CSV and the plots
``arena.png`` / ``per_op.png``.

A file that is not a usable model (missing, empty, truncated, corrupt, not TFLite) does
not stop the others: its row says what is wrong (``error``). Pass ``errors="raise"`` to get
the :class:`~tinyml_utils.errors.ModelFileError` instead.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.analyze import compute, memory
from tinyml_utils.analyze.interpreters import ModelLike, load_model_bytes
from tinyml_utils.errors import DataError, ModelFileError, TinyMLError

ModelsArg = ModelLike | Sequence[ModelLike] | Mapping[str, ModelLike]


def _empty_frame():
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
    ops: Any = field(default_factory=_empty_frame, repr=False)
    layers: Any = field(default_factory=_empty_frame, repr=False)
    tensors: Any = field(default_factory=_empty_frame, repr=False)
    weights: Any = field(default_factory=_empty_frame, repr=False)
    plan: memory.ArenaPlan | None = field(default=None, repr=False)
    memory: Any = field(default_factory=_empty_frame, repr=False)
    support: Any = field(default=None, repr=False)
    arena: Any = None
    allocations: Any = field(default_factory=_empty_frame, repr=False)
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
                input=_io_text(info, info.inputs),
                output=_io_text(info, info.outputs),
                macs=compute.total_macs(info),
            )
        if self.plan is not None:
            row.update(
                planned_peak_bytes=self.plan.peak,
                live_lower_bound_bytes=self.plan.lower_bound,
            )
        if self.arena is not None:
            totals = _arena_parts(self.allocations)
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


def _with_source(m: ModelBenchmark) -> str:
    error = m.error or ""
    return error if error.startswith(m.source) else f"{m.source}: {error}"


def _arena_parts(allocations) -> dict[str, int]:
    if allocations is None or not len(allocations):
        return {}
    return {
        str(item): int(v)
        for item, v in zip(allocations["item"], allocations["used_bytes"], strict=True)
        if str(item).startswith("arena ")
    }


def _io_text(info, indices: list[int]) -> str:
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
        return [_with_source(m) for m in self.models if m.error]

    def to_markdown(self) -> str:
        return _markdown(self)

    def save(self, out_dir: str | os.PathLike, plots: bool = True) -> list[Path]:
        """Write CSV, XLSX, Markdown, HTML and PNG files into ``out_dir``; returns the paths."""
        self.out_dir = Path(out_dir)
        self.files = _save(self, self.out_dir, plots)
        return self.files


# ----------------------------------------------------------------------------- inputs


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"


def _named_models(models: ModelsArg, names: Sequence[str] | None) -> list[tuple[str, Any, str]]:
    if isinstance(models, Mapping):
        items = [(str(k), v, str(k)) for k, v in models.items()]
    else:
        seq = [models] if isinstance(models, bytes | bytearray | str | os.PathLike) else models
        items = []
        for i, m in enumerate(seq):
            if isinstance(m, bytes | bytearray):
                items.append((f"model_{i + 1}", m, f"<bytes #{i + 1}>"))
            else:
                items.append((Path(m).stem or f"model_{i + 1}", m, str(m)))
    if names is not None:
        if len(names) != len(items):
            raise DataError(f"{len(names)} names for {len(items)} models.")
        items = [(n, m, s) for n, (_, m, s) in zip(names, items, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for name, m, src in items:
        name = _safe_name(name)
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append((name, m, src))
    if not out:
        raise DataError("no model given: pass a .tflite path, bytes, or a list of them.")
    return out


def load_labelled_data(data: Any) -> LabelledData:
    """Labelled data from an ``.npz`` (arrays ``x`` and ``y``), a tuple ``(x, y)`` or a
    :class:`LabelledData`."""
    if isinstance(data, LabelledData):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        x, y, description = data[0], data[1], "arrays given in Python"
    else:
        path = Path(data)
        if not path.is_file():
            raise DataError(f"{path}: no such data file. Give an .npz with arrays x and y.")
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "x" not in npz or "y" not in npz:
                    raise DataError(
                        f"{path} holds {sorted(npz.files)}; it needs arrays named x and y "
                        "(np.savez(path, x=x_test, y=y_test))."
                    )
                x, y = npz["x"], npz["y"]
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable .npz file ({exc}).") from exc
        description = f"{path.name} ({len(x)} examples)"
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot labels
    y = y.reshape(-1)
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"x has {len(x)} examples and y {len(y)}; they must match (and be > 0).")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError("y must hold integer class labels (or one-hot rows).")
        y = y.astype(np.int64)
    return LabelledData(x.astype(np.float32), y.astype(np.int64), description)


def app_test_data(
    app: str, source: str = "synthetic", data_dir: str | None = None, quick: bool = False
) -> LabelledData:
    """The test split of a workbook application (``tinyml_utils.apps.prepare``)."""
    try:
        from tinyml_utils import apps
    except ImportError as exc:
        raise DataError(
            "--dataset needs tinyml_utils.apps, which this checkout does not have yet; "
            "save test data with np.savez('test.npz', x=x_test, y=y_test) and use --data."
        ) from exc
    prepared = apps.prepare(app, source=source, data_dir=data_dir, quick=quick)
    split = getattr(prepared, "split", "")
    src = getattr(prepared, "source", source)
    return LabelledData(
        np.asarray(prepared.x_test, np.float32),
        np.asarray(prepared.y_test, np.int64),
        f"{app} test split ({split}; source {src}; {len(prepared.y_test)} examples)",
    )


# ----------------------------------------------------------------------------- stages


def analyze_structure(model: ModelLike, name: str = "model", source: str = "") -> ModelBenchmark:
    """Structure, arena plan and MACs: the part that needs no interpreter (milliseconds).

    Raises :class:`~tinyml_utils.errors.ModelFileError` for unusable files.
    """
    from tinyml_utils.analyze.tflite_model import model_info
    from tinyml_utils.analyze.tflm import classify_tflm_support

    t0 = time.perf_counter()
    info = model_info(model)
    mb = ModelBenchmark(name=name, source=source or name, info=info)
    mb.ops = info.ops_table()
    mb.tensors = info.tensors_frame()
    mb.weights = info.weights_frame()
    mb.support = classify_tflm_support(info.data)
    t1 = time.perf_counter()
    mb.plan = memory.plan_model(info)
    mb.memory = mb.plan.to_frame()
    t2 = time.perf_counter()
    mb.layers = compute.layer_table(info)
    t3 = time.perf_counter()
    mb.seconds.update(structure=t1 - t0, plan=t2 - t1, macs=t3 - t2)
    return mb


def accuracy_of(model: ModelLike, data: LabelledData, threads: int = 1) -> dict[str, Any]:
    """Accuracy and balanced accuracy of the .tflite model on ``data`` (ai_edge_litert)."""
    from tinyml_utils.analyze.interpreters import TFLiteRunner

    runner = TFLiteRunner(model, num_threads=threads)
    scores = runner.predict(data.x)
    scores = scores.reshape(len(scores), -1)
    pred = (scores[:, 0] > 0.5).astype(np.int64) if scores.shape[1] == 1 else scores.argmax(1)
    y = data.y
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return {
        "accuracy": round(float(np.mean(pred == y)), 4),
        "balanced_accuracy": round(float(np.mean(recalls)), 4),
        "n_eval": len(y),
        "eval_data": data.description,
    }


def _benchmark_one(
    name: str,
    model: Any,
    source: str,
    data: LabelledData | None,
    runs: int,
    warmup: int,
    threads: int,
    arena: bool,
    latency: bool,
    kernels: str,
) -> ModelBenchmark:
    from tinyml_utils.analyze import latency as latency_mod
    from tinyml_utils.analyze.tflm import measure_arena

    try:
        raw = load_model_bytes(model)
        mb = analyze_structure(raw, name, source)
    except ModelFileError as exc:
        return ModelBenchmark(name=name, source=source, error=str(exc))
    if arena:
        t = time.perf_counter()
        mb.arena = measure_arena(raw)
        mb.allocations = mb.arena.allocation_table()
        mb.seconds["arena"] = time.perf_counter() - t
    if latency or data is not None:
        t = time.perf_counter()
        problem = latency_mod.check_loads(raw)
        mb.seconds["load_check"] = time.perf_counter() - t
        if problem:
            mb.latency_error = f"TFLite cannot run it: {problem}"
        else:
            if latency:
                t = time.perf_counter()
                try:
                    x = data.x if data is not None and _fits(mb.info, data.x) else None
                    mb.latency = latency_mod.measure_latency(
                        raw, runs=runs, warmup=warmup, threads=threads, x=x, kernels=kernels
                    )
                except TinyMLError as exc:
                    mb.latency_error = str(exc)
                mb.seconds["latency"] = time.perf_counter() - t
            if data is not None:
                t = time.perf_counter()
                try:
                    mb.accuracy = accuracy_of(raw, data, threads)
                except TinyMLError as exc:
                    mb.accuracy = {"accuracy_error": str(exc)}
                mb.seconds["accuracy"] = time.perf_counter() - t
    return mb


def _fits(info, x: np.ndarray) -> bool:
    """Does a batch ``x`` match the model's single input shape (batch axis aside)?"""
    if len(info.inputs) != 1:
        return False
    return tuple(info.tensors[info.inputs[0]].shape[1:]) == tuple(np.shape(x)[1:])


def benchmark(
    models: ModelsArg,
    data: Any = None,
    runs: int = 50,
    out_dir: str | os.PathLike | None = None,
    *,
    threads: int = 1,
    warmup: int = 10,
    names: Sequence[str] | None = None,
    arena: bool = True,
    latency: bool = True,
    kernels: str = "optimized",
    plots: bool = True,
    errors: str = "report",
    progress: bool = False,
) -> BenchmarkReport:
    """Benchmark one or more .tflite models; see the module docstring.

    Args:
        models: a path or bytes, a list of them, or a dict ``{name: path_or_bytes}``.
        data: labelled data for accuracy: an .npz path (``x``, ``y``), ``(x, y)``, or a
            :class:`LabelledData` (e.g. from :func:`app_test_data`).
        runs: timed inferences per model (after ``warmup`` untimed ones).
        out_dir: when given, every table and plot is written there (see :meth:`save`).
        threads: interpreter threads for latency and accuracy.
        arena: measure the real TFLM arena (subprocess probes, ~0.3-1 s per model).
        latency: measure ai_edge_litert latency.
        kernels: "optimized" (XNNPACK, what a PC/phone app gets) or "reference".
        errors: "report" (bad files become rows with ``error``) or "raise".
        progress: show a tqdm progress bar over the models.
    """
    if errors not in ("report", "raise"):
        raise DataError("errors must be 'report' or 'raise'.")
    labelled = load_labelled_data(data) if data is not None else None
    items = _named_models(models, names)
    iterator = items
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(items, desc="benchmark", unit="model")
    results = []
    for name, model, source in iterator:
        mb = _benchmark_one(
            name, model, source, labelled, runs, warmup, threads, arena, latency, kernels
        )
        if mb.error and errors == "raise":
            raise ModelFileError(_with_source(mb))
        results.append(mb)
    report = BenchmarkReport(results, labelled.description if labelled else "")
    if out_dir is not None:
        report.save(out_dir, plots=plots)
    return report


# ----------------------------------------------------------------------------- output


def _markdown(report: BenchmarkReport) -> str:
    def table(df) -> str:
        if df is None or not len(df):
            return "_(empty)_\n"
        try:
            return df.to_markdown(index=False) + "\n"
        except ImportError:  # tabulate missing
            return "```\n" + df.to_string(index=False) + "\n```\n"

    lines = ["# Benchmark of .tflite models", ""]
    if report.data_description:
        lines += [f"Accuracy measured on: {report.data_description}.", ""]
    lines += ["## Comparison", "", table(report.comparison), ""]
    pvm = report.planned_vs_measured()
    if len(pvm):
        lines += [
            "## Planned peak vs measured TFLM arena",
            "",
            table(pvm),
            "The planned peak counts only activation tensors (greedy plan, 16-byte aligned). "
            "TFLM's arena adds the persistent tail (tensor structs, quantization data, op "
            "data, node registrations), kernels' scratch buffers, alignment, and the "
            "planner's working memory while allocating.",
            "",
        ]
    for m in report.models:
        lines += [f"## {m.name}", "", f"Source: `{m.source}`", ""]
        if m.error:
            lines += [f"**Not analysed:** {m.error}", ""]
            continue
        lines += ["### Ops", "", table(m.ops), "### Weights by dtype", "", table(m.weights)]
        if m.support is not None:
            lines += [f"TFLM support (static check): {m.support.summary()}", ""]
        if m.arena is not None:
            lines += [f"TFLM: {m.arena.reason}", ""]
        if m.plan is not None:
            lines += [
                f"Planned arena peak: {m.plan.peak:,} bytes (lower bound "
                f"{m.plan.lower_bound:,} bytes alive at once).",
                "",
            ]
        if m.latency is not None:
            lat = m.latency
            lines += [
                f"Latency (ai_edge_litert, {lat.kernels} kernels, {lat.threads} thread(s), "
                f"{lat.runs} runs): init {lat.init_ms:.3f} ms, first {lat.first_ms:.3f} ms, "
                f"warm-up mean {lat.warmup_mean_ms:.3f} ms, mean {lat.mean_ms:.4f} ms, "
                f"median {lat.median_ms:.4f} ms, p90 {lat.p90_ms:.4f} ms.",
                "",
            ]
        elif m.latency_error:
            lines += [f"Latency: not measured ({m.latency_error}).", ""]
        if m.accuracy:
            lines += [f"Accuracy: {m.accuracy}", ""]
        lines += ["### Per op", "", table(m.layers)]
    return "\n".join(lines)


def _html(report: BenchmarkReport, images: dict[str, list[str]]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Benchmark</title>",
        "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;"
        "font-size:12px} td,th{border:1px solid #ccc;padding:2px 6px} img{max-width:900px}"
        "</style></head><body><h1>Benchmark of .tflite models</h1>",
    ]
    if report.data_description:
        parts.append(f"<p>Accuracy measured on: {html.escape(report.data_description)}.</p>")
    parts += ["<h2>Comparison</h2>", report.comparison.to_html(index=False)]
    if "comparison" in images:
        parts.append(f"<img src='{images['comparison'][0]}'>")
    pvm = report.planned_vs_measured()
    if len(pvm):
        parts += ["<h2>Planned peak vs measured TFLM arena</h2>", pvm.to_html(index=False)]
    for m in report.models:
        parts.append(f"<h2>{html.escape(m.name)}</h2>")
        if m.error:
            parts.append(f"<p><b>Not analysed:</b> {html.escape(m.error)}</p>")
            continue
        if m.arena is not None:
            parts.append(f"<p>TFLM: {html.escape(m.arena.reason)}</p>")
        for src in images.get(m.name, []):
            parts.append(f"<img src='{src}'>")
        parts += ["<h3>Per op</h3>", m.layers.to_html(index=False)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:28] or "model"
    sheet, i = base, 1
    while sheet.lower() in used or sheet.lower() == "comparison":
        i += 1
        sheet = f"{base[:25]}_{i}"
    used.add(sheet.lower())
    return sheet


def _write_xlsx(report: BenchmarkReport, path: Path) -> None:
    import pandas as pd

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        report.comparison.to_excel(writer, sheet_name="comparison", index=False)
        used: set[str] = set()
        for m in report.models:
            sheet = _sheet_name(m.name, used)
            summary = pd.DataFrame(
                [{"figure": k, "value": v} for k, v in m.summary().items()],
                columns=["figure", "value"],
            )
            sections = [
                ("summary", summary),
                ("ops used", m.ops),
                ("weights by dtype", m.weights),
                ("per op: MACs and bytes", m.layers),
                ("arena plan (activation tensors)", m.memory),
                ("TFLM allocations (print_allocations)", m.allocations),
                ("tensors", m.tensors),
            ]
            row = 0
            for title, df in sections:
                pd.DataFrame({title: []}).to_excel(
                    writer, sheet_name=sheet, startrow=row, index=False
                )
                if df is not None and len(df.columns):
                    df.to_excel(writer, sheet_name=sheet, startrow=row + 1, index=False)
                    row += len(df) + 4
                else:
                    row += 3


def _save(report: BenchmarkReport, out: Path, plots: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    comparison = report.comparison
    path = out / "comparison.csv"
    comparison.to_csv(path, index=False)
    files.append(path)
    pvm = report.planned_vs_measured()
    if len(pvm):
        path = out / "planned_vs_measured.csv"
        pvm.to_csv(path, index=False)
        files.append(path)
    images: dict[str, list[str]] = {}
    for m in report.models:
        if m.error:
            continue
        folder = out / m.name
        folder.mkdir(exist_ok=True)
        for table_name in ("ops", "layers", "tensors", "weights", "memory", "allocations"):
            df = getattr(m, table_name)
            path = folder / f"{table_name}.csv"
            df.to_csv(path, index=False)
            files.append(path)
        if plots and m.plan is not None:
            from tinyml_utils.analyze import plots as plots_mod

            plt = plots_mod._pyplot()
            parts = _arena_parts(m.allocations)
            arena_bytes = m.arena.arena_bytes if m.arena is not None else None
            fig = plots_mod.plot_arena(
                m.plan, f"{m.name}: activation tensors", parts.get("arena head"), arena_bytes
            )
            path = folder / "arena.png"
            fig.savefig(path, dpi=100, bbox_inches="tight")
            plt.close(fig)
            files.append(path)
            fig = plots_mod.plot_per_op(m.layers, f"{m.name}: per op")
            path = folder / "per_op.png"
            fig.savefig(path, dpi=100, bbox_inches="tight")
            plt.close(fig)
            files.append(path)
            images[m.name] = [f"{m.name}/arena.png", f"{m.name}/per_op.png"]
    if plots and any(m.ok for m in report.models):
        from tinyml_utils.analyze import plots as plots_mod

        plt = plots_mod._pyplot()
        fig = plots_mod.plot_comparison(comparison[comparison["error"] == ""])
        path = out / "comparison.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        files.append(path)
        images["comparison"] = ["comparison.png"]
    markdown = report.to_markdown()
    path = out / "summary.md"
    path.write_text(markdown)
    files.append(path)
    (out / "comparison.md").write_text(_markdown_table(comparison))
    files.append(out / "comparison.md")
    path = out / "summary.html"
    path.write_text(_html(report, images))
    files.append(path)
    path = out / "benchmark.xlsx"
    _write_xlsx(report, path)
    files.append(path)
    return files


def _markdown_table(df) -> str:
    try:
        return df.to_markdown(index=False) + "\n"
    except ImportError:
        return df.to_string(index=False) + "\n"
