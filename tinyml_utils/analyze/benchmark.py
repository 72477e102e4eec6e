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
the :class:`~tinyml_utils.core.errors.ModelFileError` instead.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils import apps
from tinyml_utils.analyze import latency as latency_mod
from tinyml_utils.analyze.render import with_source
from tinyml_utils.analyze.results import (
    BenchmarkReport,
    LabelledData,
    ModelBenchmark,
)
from tinyml_utils.core.errors import DataError, ModelFileError, TinyMLError
from tinyml_utils.tflite import compute, memory
from tinyml_utils.tflite.guard import predict_isolated, run_isolated
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes
from tinyml_utils.tflite.reader import model_info
from tinyml_utils.tflite.tflm import classify_tflm_support, measure_arena

ModelsArg = ModelLike | Sequence[ModelLike] | Mapping[str, ModelLike]


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
        x, y, description, where = data[0], data[1], "arrays given in Python", "the data"
    else:
        x, y, description, where = _read_npz(Path(data))
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{where}: x holds no examples (shape {x.shape}); give labelled data.")
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot labels
    y = y.reshape(-1)
    if len(x) != len(y):
        raise DataError(f"{where}: x has {len(x)} examples and y {len(y)}; they must match.")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{where}: x has dtype {x.dtype}; it must hold numbers.")
    bad = ~np.isfinite(x.astype(np.float64)).reshape(len(x), -1).all(axis=1)
    if bad.any():
        raise DataError(
            f"{where}: example {int(np.flatnonzero(bad)[0])} of x holds NaN or inf "
            f"({int(bad.sum())} such example(s)). Fix: repair or drop them before benchmarking."
        )
    if not np.issubdtype(y.dtype, np.integer):
        numeric = np.issubdtype(y.dtype, np.number) and np.all(np.isfinite(y))
        if not (numeric and np.all(np.equal(np.mod(y, 1), 0))):
            raise DataError(f"{where}: y must hold integer class labels (or one-hot rows).")
        y = y.astype(np.int64)
    if (y < 0).any():
        raise DataError(f"{where}: y holds the label {int(y.min())}; labels are 0..K-1.")
    return LabelledData(x.astype(np.float32), y.astype(np.int64), description)


def _read_npz(path: Path) -> tuple[Any, Any, str, str]:
    """(x, y, description, where) of an .npz file; every failure names the file."""
    if path.is_dir():
        raise DataError(f"{path} is a folder; --data takes an .npz file with arrays x and y.")
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
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001  (zipfile, zlib, EOF, format errors on a bad file)
        raise DataError(
            f"{path}: not a readable .npz file ({type(exc).__name__}: {exc}); it is cut short "
            "or corrupt. Fix: save it again with np.savez(path, x=x, y=y)."
        ) from exc
    return x, y, f"{path.name} ({len(x)} examples)", str(path)


def app_test_data(
    app: str, source: str = "synthetic", data_dir: str | None = None, quick: bool = False
) -> LabelledData:
    """The test split of a workbook application (``tinyml_utils.apps.prepare``)."""
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

    Raises :class:`~tinyml_utils.core.errors.ModelFileError` for unusable files.
    """

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


def accuracy_of(
    model: ModelLike, data: LabelledData, threads: int = 1, where: str | None = None
) -> dict[str, Any]:
    """Accuracy and balanced accuracy of the .tflite model on ``data`` (ai_edge_litert, in a
    child process: :func:`~tinyml_utils.tflite.guard.predict_isolated`)."""
    scores = predict_isolated(model, data.x, "tflite", threads=threads, where=where)
    scores = scores.reshape(len(scores), -1)
    n_classes = max(2, scores.shape[1])
    if int(data.y.max()) >= n_classes:
        raise DataError(
            f"{data.description}: labels go up to {int(data.y.max())} but the model has "
            f"{n_classes} classes (outputs); the data does not belong to this model."
        )
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
                    mb.latency = run_isolated(  # native code in a child: a crash is a row
                        "tinyml_utils.analyze.latency:measure_latency",
                        raw,
                        runs=runs,
                        warmup=warmup,
                        threads=threads,
                        x=x,
                        kernels=kernels,
                        what=source,
                    )
                except TinyMLError as exc:
                    mb.latency_error = str(exc)
                mb.seconds["latency"] = time.perf_counter() - t
            if data is not None:
                t = time.perf_counter()
                try:
                    mb.accuracy = accuracy_of(raw, data, threads, where=source)
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
        from tinyml_utils.core.progress import tqdm

        iterator = tqdm(items, desc="benchmark", unit="model")
    results = []
    for name, model, source in iterator:
        mb = _benchmark_one(
            name, model, source, labelled, runs, warmup, threads, arena, latency, kernels
        )
        if mb.error and errors == "raise":
            raise ModelFileError(with_source(mb))
        results.append(mb)
    report = BenchmarkReport(results, labelled.description if labelled else "")
    if out_dir is not None:
        report.save(out_dir, plots=plots)
    return report
