"""The benchmark report as files: Markdown, HTML, XLSX, CSV and PNG (``BenchmarkReport.save``)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tinyml_utils.analyze import plots as plots_mod
from tinyml_utils.core.files import OutputLock, atomic_path, atomic_write_text, output_folder
from tinyml_utils.tflite.interpreters import ModelLike

ModelsArg = ModelLike | Sequence[ModelLike] | Mapping[str, ModelLike]


if TYPE_CHECKING:
    from tinyml_utils.analyze.results import BenchmarkReport, ModelBenchmark


def with_source(m: ModelBenchmark) -> str:
    error = m.error or ""
    return error if error.startswith(m.source) else f"{m.source}: {error}"


def arena_parts(allocations) -> dict[str, int]:
    if allocations is None or not len(allocations):
        return {}
    return {
        str(item): int(v)
        for item, v in zip(allocations["item"], allocations["used_bytes"], strict=True)
        if str(item).startswith("arena ")
    }


# ----------------------------------------------------------------------------- output


def report_markdown(report: BenchmarkReport) -> str:
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


#: characters XLSX (XML 1.0) cannot hold: openpyxl raises IllegalCharacterError on them
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xlsx_safe(df):
    """A copy of ``df`` whose text cells and headers XLSX can store (control chars -> '?');
    a tensor name in a model can hold any byte."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if df is None or not len(df.columns):
        return df

    def clean(v):
        return _XLSX_ILLEGAL.sub("?", v) if isinstance(v, str) else v

    out = df.copy()
    out.columns = [clean(str(c)) for c in out.columns]
    for col in out.columns:
        if not (is_numeric_dtype(out[col]) or is_bool_dtype(out[col])):
            out[col] = out[col].map(clean)
    return out


def _write_xlsx(report: BenchmarkReport, path: Path) -> None:
    import pandas as pd

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        _xlsx_safe(report.comparison).to_excel(writer, sheet_name="comparison", index=False)
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
                    _xlsx_safe(df).to_excel(writer, sheet_name=sheet, startrow=row + 1, index=False)
                    row += len(df) + 4
                else:
                    row += 3


def _csv(df, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _png(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")


def save_report(report: BenchmarkReport, out: Path, plots: bool) -> list[Path]:
    """Every file of the report, each written atomically (temp file + rename), while this
    process holds the folder's lock (:class:`~tinyml_utils.core.files.OutputLock`)."""
    out = output_folder(out)
    with OutputLock(out, "a benchmark report"):
        return _save(report, out, plots)


def _save(report: BenchmarkReport, out: Path, plots: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    comparison = report.comparison
    path = out / "comparison.csv"
    _csv(comparison, path)
    files.append(path)
    pvm = report.planned_vs_measured()
    if len(pvm):
        path = out / "planned_vs_measured.csv"
        _csv(pvm, path)
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
            _csv(df, path)
            files.append(path)
        if plots and m.plan is not None:
            plt = plots_mod._pyplot()
            parts = arena_parts(m.allocations)
            arena_bytes = m.arena.arena_bytes if m.arena is not None else None
            fig = plots_mod.plot_arena(
                m.plan, f"{m.name}: activation tensors", parts.get("arena head"), arena_bytes
            )
            path = folder / "arena.png"
            _png(fig, path)
            plt.close(fig)
            files.append(path)
            fig = plots_mod.plot_per_op(m.layers, f"{m.name}: per op")
            path = folder / "per_op.png"
            _png(fig, path)
            plt.close(fig)
            files.append(path)
            images[m.name] = [f"{m.name}/arena.png", f"{m.name}/per_op.png"]
    if plots and any(m.ok for m in report.models):
        plt = plots_mod._pyplot()
        fig = plots_mod.plot_comparison(comparison[comparison["error"] == ""])
        path = out / "comparison.png"
        _png(fig, path)
        plt.close(fig)
        files.append(path)
        images["comparison"] = ["comparison.png"]
    markdown = report.to_markdown()
    path = out / "summary.md"
    atomic_write_text(path, markdown)
    files.append(path)
    atomic_write_text(out / "comparison.md", _markdown_table(comparison))
    files.append(out / "comparison.md")
    path = out / "summary.html"
    atomic_write_text(path, _html(report, images))
    files.append(path)
    path = out / "benchmark.xlsx"
    with atomic_path(path) as tmp:
        _write_xlsx(report, tmp)
    files.append(path)
    return files


def _markdown_table(df) -> str:
    try:
        return df.to_markdown(index=False) + "\n"
    except ImportError:
        return df.to_string(index=False) + "\n"
