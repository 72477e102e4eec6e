"""``tinyml train-reference``: train, convert, measure and record an app's reference model.

    tinyml train-reference --app motionsense              # real data from ../shared/data
    tinyml train-reference --app motionsense_6class
    tinyml train-reference --app keyword_spotting
    tinyml train-reference --app music_genre              # features_30_sec.csv, by artist
    tinyml train-reference --app music_genre_mfcc         # 216x13 MFCC CNN, synthetic audio
    tinyml train-reference --app carsensor                # synthetic: sizes only, no accuracy

Each run is seeded and writes ``models/<name>/``:

- ``model_int8.tflite``: what a microcontroller gets (int8 weights, activations, in and out);
- ``model_float32.tflite``, ``keras_model.h5``: the same model unquantized;
- ``spec.json`` (the CNN template point), ``preprocessing.json`` (features, normalisation
  fitted on the training split, the split's groups), ``metrics.json`` (everything measured);

then replaces the entry's row in ``models/results.csv`` and rewrites ``models/RESULTS.md``.
Every accuracy is measured by running the .tflite file on the held-out groups (subjects,
speakers, tracks) of the real data; the int8 file is also run in TFLM (the microcontroller
runtime) and its arena measured with :func:`tinyml_utils.tflite.tflm.measure_arena`.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tinyml_utils.apps.base import KB, Reference
from tinyml_utils.apps.prepare import default_spec, prepare
from tinyml_utils.apps.registry import get_app, references
from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.core.files import atomic_write_text, replace_staged, staging_folder
from tinyml_utils.core.paths import models_dir, portable_source, shared_data_dir
from tinyml_utils.data.datasets import get_module
from tinyml_utils.model import train
from tinyml_utils.model.cnn import build_cnn, count_weights
from tinyml_utils.tflite.interpreters import TFLiteRunner, TFLMRunner


def data_dir_for(ref: Reference, data_dir: str | Path | None) -> Path | None:
    """The real data folder: --data-dir, else ../shared/data/<app> (paths.shared_data_dir)."""

    if data_dir is not None:
        return Path(data_dir)
    if ref.source == "synthetic":
        return None
    root = shared_data_dir()
    folder = get_module(get_app(ref.app).dataset)
    candidate = root / folder.LOCATION.folder if root is not None else None
    if candidate is None or not candidate.exists():
        raise DatasetNotFoundError(
            f"no real data for {ref.name}: expected ../shared/data/{folder.LOCATION.folder} "
            "beside the repository (or $TINYML_DATA_DIR). Fix: pass --data-dir DIR."
        )
    return candidate


#: where ``metrics["target_arena"]`` was measured
TARGET_ARENA_HOW = (
    "TFLM 90b983c2 + CMSIS-NN 4ab83cc3 for a Cortex-M4F (32-bit), smallest arena that "
    "allocates and invokes, bisected on the emulated board (QEMU mps2-an386)"
)


def target_arena_record(arena: int | None) -> dict[str, Any] | None:
    return None if arena is None else {"bytes": int(arena), "how": TARGET_ARENA_HOW}


def set_target_arena(metrics: dict[str, Any], arena: int | None) -> dict[str, Any]:
    """Record the 32-bit target's arena in ``metrics`` (and judge the arena target on it)."""
    metrics["target_arena"] = target_arena_record(arena)
    limit = metrics.get("targets", {}).get("arena_bytes")
    if limit is not None and arena is not None:
        limit.update(measured=int(arena), met=bool(arena <= limit["target"]))
    return metrics


def _arena(model_bytes: bytes) -> dict[str, Any]:
    return train.tflm_support(model_bytes)


def train_reference(
    name: str,
    data_dir: str | Path | None = None,
    out_root: str | Path | None = None,
    epochs: int | None = None,
    seed: int = 0,
    verbose: int = 2,
    write_results: bool = True,
    force: bool = False,
    measure_target: Callable[[bytes], int | None] | None = None,
) -> dict[str, Any]:
    """Train, convert, measure and save reference ``name``; returns its metrics dict.

    ``measure_target(int8_bytes)``: the int8 file's TFLM arena on the 32-bit microcontroller
    (``tinyml train-reference`` passes :func:`tinyml_utils.deploy.target_arena`), recorded as
    ``metrics["target_arena"]``; None or absent: only the 64-bit host runtime's is known.

    The files are written into a staging folder that replaces ``<out>/<name>/`` only at the
    end (:func:`~tinyml_utils.core.files.replace_staged`): an interrupted run leaves the old
    set whole. An existing set is replaced only with ``force=True`` (``--force``).
    """

    known = references()
    if name not in known:
        raise DataError(f"unknown reference {name!r}; choose one of {sorted(known)}.")
    ref = known[name]
    out = Path(out_root) if out_root is not None else models_dir()
    final = out / name
    existing = sorted(p.name for p in final.iterdir()) if final.is_dir() else []
    if existing and not force:
        raise DataError(
            f"{final} already holds a reference model ({', '.join(existing[:4])}"
            f"{', ...' if len(existing) > 4 else ''}); nothing was changed. Fix: pass --force "
            "to replace it (the new set replaces the old one in one step once training "
            "succeeded), or --out DIR to write a new set elsewhere."
        )
    train.configure_threads(1, 1)  # small models; the machine is shared
    folder = data_dir_for(ref, data_dir)
    source = "local" if folder is not None else "synthetic"
    t0 = time.perf_counter()
    print(f"[{name}] preparing data ({source}{': ' + str(folder) if folder else ''})", flush=True)
    data = prepare(ref.app, source=source, data_dir=folder, seed=seed, **ref.options)
    print(data, flush=True)
    spec = default_spec(ref.app, data, **ref.spec)
    model = build_cnn(spec, seed=seed)
    print(f"[{name}] {spec.name()}: {count_weights(model):,} weights", flush=True)
    history = train.train(
        model,
        data,
        epochs=epochs or ref.epochs,
        batch_size=ref.batch_size,
        seed=seed,
        verbose=verbose,
        class_weight=ref.class_weight,
        patience=ref.patience,
        learning_rate=ref.learning_rate,
        schedule=ref.schedule,
    )
    train_seconds = time.perf_counter() - t0
    keras_result = train.evaluate_keras(model, data.x_test, data.y_test, data.class_names)

    target = staging_folder(final)  # swapped in for models/<name>/ at the end
    with tempfile.TemporaryDirectory(prefix=f"ref_{name}_") as tmp:
        print(f"[{name}] converting to 4 variants and measuring them", flush=True)
        table = train.conversion_table(model, data, out_dir=tmp)
        for variant in ("int8", "float32"):
            shutil.copyfile(
                Path(tmp) / f"model_{variant}.tflite", target / f"model_{variant}.tflite"
            )
    table["file"] = [
        f"models/{name}/model_{v}.tflite" if v in ("int8", "float32") else "(not kept)"
        for v in table["variant"]
    ]
    model.save(target / "keras_model.h5", include_optimizer=False)
    int8_path = target / "model_int8.tflite"
    int8_bytes = int8_path.read_bytes()

    # the int8 file, in TFLite and in TFLM (the microcontroller kernels)
    int8_result = train.evaluate_tflite(int8_bytes, data.x_test, data.y_test, data.class_names)
    tflm_raw = TFLMRunner(int8_bytes).predict(data.x_test, dequantize_output=False)
    ref_raw = TFLiteRunner(int8_bytes, kernels="reference").predict(
        data.x_test, dequantize_output=False
    )
    tflm_result = train.evaluate_predictions(
        data.y_test, tflm_raw.reshape(len(data.y_test), -1).argmax(-1), data.class_names
    )
    row8 = table.set_index("variant").loc["int8"]
    measured = {
        "accuracy": int8_result.accuracy,
        "balanced_accuracy": int8_result.balanced_accuracy,
        "weights_bytes": int(row8["weights_bytes"]),
        "arena_bytes": int(row8["tflm_arena_bytes"]) if row8["runs_on_tflm"] == "yes" else None,
    }
    targets = {}
    for key, limit in ref.targets.items():
        value = measured.get(key)
        better_high = key in ("accuracy", "balanced_accuracy")
        met = value is not None and (value >= limit if better_high else value <= limit)
        targets[key] = {"target": limit, "measured": value, "met": bool(met)}

    metrics: dict[str, Any] = {
        "name": name,
        "app": ref.app,
        "task": ref.task,
        "data_source": portable_source(data.source) if source == "local" else "synthetic",
        "data_note": ref.data_note
        if source == ref.source
        else f"Real data given with --data-dir ({portable_source(data.source)}).",
        "accuracy_claim": ref.accuracy_claim or source == "local",
        "split": data.split,
        "examples": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
        "input_shape": list(data.input_shape),
        "class_names": data.class_names,
        "spec": spec.name(),
        "parameters": count_weights(model),
        "epochs_run": len(history.history["loss"]),
        "training": training_text(ref),
        "epochs_max": epochs or ref.epochs,
        "epochs_recipe": ref.epochs,
        "seed": seed,
        "train_seconds": round(train_seconds, 1),
        "keras": keras_result.summary(),
        "int8_tflite": int8_result.summary(),
        "int8_tflm": tflm_result.summary(),
        "int8_tflm_vs_tflite": compare_runtimes(tflm_raw, ref_raw),
        "variants": json.loads(table.to_json(orient="records")),
        "targets": targets,
        "reference_project": ref.reference_project,
        "notes": ref.notes,
        "versions": _versions(),
    }
    # the int8 file's arena on the 32-bit target (None: only the host's is known)
    set_target_arena(metrics, measure_target(int8_bytes) if measure_target else None)
    if len(data.class_names) == 2 and int8_result.scores is not None:
        metrics["operating_points"] = operating_points(int8_result.y_true, int8_result.scores)
    if data.test_meta.get("words") is not None:  # keyword spotting: which words false-alarm
        words = np.asarray(data.test_meta["words"])
        wrong = (int8_result.y_pred == 1) & (int8_result.y_true == 0)
        metrics["false_alarms_by_word"] = {
            str(w): int(n)
            for w, n in zip(*np.unique(words[wrong], return_counts=True), strict=True)
        }
    (target / "spec.json").write_text(spec.to_json() + "\n")
    recipe = {**data.preprocessing, "source": portable_source(data.preprocessing["source"])}
    (target / "preprocessing.json").write_text(json.dumps(recipe, indent=1) + "\n")
    (target / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_json) + "\n")
    replace_staged(target, final)
    print(f"[{name}] Keras test: {keras_result.accuracy:.2%}; int8 file:", flush=True)
    print(int8_result, flush=True)
    print(table.to_string(index=False), flush=True)
    if write_results:
        update_results(out)
    return metrics


def training_text(ref: Reference) -> str:
    """How the epochs were chosen, for RESULTS.md."""
    if ref.patience is None:
        return f"all epochs, {ref.schedule} learning rate from {ref.learning_rate:g}"
    return "early stopping on validation loss"


def operating_points(
    y_true: np.ndarray, scores: np.ndarray, thresholds=(0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
) -> list[dict[str, float]]:
    """Recall, false-alarm rate and balanced accuracy when class 1 fires at score >= t.

    The headline figures use the argmax (t = 0.5). The other rows show the trade-off a
    device can choose without retraining (one comparison on the int8 output); they are
    measured on the test split, so picking the best row there would flatter the result.
    """
    y = np.asarray(y_true)
    p = np.asarray(scores, dtype=np.float64).reshape(len(y), -1)[:, 1]
    rows = []
    for t in thresholds:
        fire = p >= t
        recall = float(fire[y == 1].mean()) if (y == 1).any() else float("nan")
        false_alarms = float(fire[y == 0].mean()) if (y == 0).any() else float("nan")
        rows.append(
            {
                "threshold": t,
                "recall": round(recall, 4),
                "false_alarm_rate": round(false_alarms, 4),
                "balanced_accuracy": round((recall + 1 - false_alarms) / 2, 4),
            }
        )
    return rows


def compare_runtimes(tflm_raw: np.ndarray, tflite_raw: np.ndarray) -> dict[str, Any]:
    """How far TFLM's int8 outputs are from TFLite's (reference kernels), in quantization steps.

    TFLM and TFLite's reference kernels share the integer arithmetic of CONV_2D, pooling and
    SOFTMAX; ai_edge_litert's reference FULLY_CONNECTED requantizes in float
    (round(acc * scale)) while TFLM stays in integers, so a dense layer can differ by one
    step on a few outputs (google-ai-edge/LiteRT issue #8567), and later layers amplify it.
    """
    a = np.asarray(tflm_raw).reshape(len(tflm_raw), -1).astype(np.int64)
    b = np.asarray(tflite_raw).reshape(len(tflite_raw), -1).astype(np.int64)
    return {
        "examples": int(len(a)),
        "identical_outputs": bool(np.array_equal(a, b)),
        "examples_differing": int((a != b).any(axis=1).sum()),
        "max_step_difference": int(np.abs(a - b).max()) if a.size else 0,
        "predictions_differing": int((a.argmax(1) != b.argmax(1)).sum()),
    }


def _json(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("tensorflow-cpu", "tf-keras", "ai-edge-litert", "tflite-micro", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


# --------------------------------------------------------------------------- results files

RESULT_COLUMNS = [
    "name",
    "app",
    "task",
    "data_source",
    "split",
    "test_examples",
    "accuracy",
    "balanced_accuracy",
    "false_alarm_rate",
    "accuracy_tflm",
    "weights_bytes",
    "model_bytes",
    "arena_bytes",
    "host_arena_bytes",
    "float32_arena_bytes",
    "dynamic_range_runs_on_tflm",
    "accuracy_claim",
]


def _row(metrics: dict[str, Any]) -> dict[str, Any]:
    variants = {v["variant"]: v for v in metrics["variants"]}
    int8 = metrics["int8_tflite"]
    return {
        "name": metrics["name"],
        "app": metrics["app"],
        "task": metrics["task"],
        "data_source": metrics["data_source"],
        "split": metrics["split"],
        "test_examples": metrics["examples"]["test"],
        "accuracy": round(int8["accuracy"], 4),
        "balanced_accuracy": round(int8["balanced_accuracy"], 4),
        "false_alarm_rate": int8.get("false_alarm_rate", ""),
        "accuracy_tflm": round(metrics["int8_tflm"]["accuracy"], 4),
        "weights_bytes": variants["int8"]["weights_bytes"],
        "model_bytes": variants["int8"]["model_bytes"],
        "arena_bytes": (metrics.get("target_arena") or {}).get("bytes"),
        "host_arena_bytes": variants["int8"]["tflm_arena_bytes"],
        "float32_arena_bytes": variants["float32"]["tflm_arena_bytes"],
        "dynamic_range_runs_on_tflm": variants["dynamic_range"]["runs_on_tflm"],
        "accuracy_claim": metrics["accuracy_claim"],
    }


def update_results(out_root: str | Path) -> tuple[Path, Path]:
    """Rebuild models/results.csv and models/RESULTS.md from every models/*/metrics.json."""
    out = Path(out_root)
    found = []
    for name in references():
        path = out / name / "metrics.json"
        if path.is_file():
            found.append(json.loads(path.read_text()))
    table = pd.DataFrame([_row(m) for m in found], columns=RESULT_COLUMNS)
    csv_path = out / "results.csv"
    atomic_write_text(csv_path, table.to_csv(index=False))
    md_path = out / "RESULTS.md"
    atomic_write_text(md_path, results_markdown(found))
    return csv_path, md_path


def _kb(n: Any) -> str:
    if n is None or (isinstance(n, float) and np.isnan(n)):
        return "-"
    return f"{n / KB:.2f}"


def _pct(v: Any) -> str:
    return "-" if v is None or v == "" else f"{100 * float(v):.2f} %"


def _target_text(metrics: dict[str, Any]) -> str:
    parts = []
    for key, t in metrics["targets"].items():
        if t["measured"] is None:
            shown = "n/a"
        elif key == "arena_bytes" and metrics.get("target_arena"):
            shown = f"{_kb(t['measured'])} KB on the Cortex-M4F (<= {_kb(t['target'])})"
        elif "bytes" in key:
            shown = f"{_kb(t['measured'])} KB (<= {_kb(t['target'])})"
        else:
            shown = f"{_pct(t['measured'])} (>= {_pct(t['target'])})"
        parts.append(f"{key.replace('_', ' ')} {shown} {'met' if t['met'] else 'MISSED'}")
    return "; ".join(parts)


def _epochs_text(m: dict[str, Any]) -> str:
    """ "12 epochs (early stopping ...)", saying --epochs when it was not the recipe's."""
    run = m["epochs_run"]
    word = "epoch" if run == 1 else "epochs"
    recipe, most = m.get("epochs_recipe"), m.get("epochs_max")
    how = (
        m.get("training") or "early stopping on validation loss"
        if m["examples"]["val"]
        else "fixed: no validation split"
    )
    if recipe is not None and most is not None and most != recipe:
        return f"{run} {word} (--epochs {most}; the recipe trains up to {recipe}, {how})"
    return f"{run} {word} ({how})"


def results_markdown(all_metrics: list[dict[str, Any]]) -> str:
    """The text of models/RESULTS.md."""
    lines = [
        "# Reference models: measured results",
        "",
        "Written by `tinyml train-reference --app NAME` (tinyml_utils/apps/reference.py); do not edit",
        "by hand. Every figure is measured on the files in this folder: accuracy by running",
        "`model_int8.tflite` on the held-out groups (the split is named per row; no subject,",
        "speaker or track is on both sides), weights = bytes of the constant tensors in the",
        "file, arena = the smallest TFLM tensor arena that allocates AND invokes the model:",
        "on a 32-bit Cortex-M4F (TFLM + CMSIS-NN bisected on the emulated board,",
        "`deploy.target_arena`; `python scripts/target_arenas.py` re-measures it) and, beside",
        "it, in the 64-bit host runtime (`tflite.tflm.measure_arena`), which needs more: its",
        "pointers are twice as wide. The float32 files' arenas are the host's. KB = 1,024",
        "bytes. Where the real data comes from and what it holds:",
        "`../shared/data/<app>/PROVENANCE.md`.",
        "",
        "Reproduce one entry: `tinyml train-reference --app NAME --force` (seeded; seconds to a",
        "minute on one core; without --force it refuses to replace the committed set). Re-check",
        "the committed files: `pytest tests/apps/test_reference_models.py`.",
        "Evaluate on another folder in the dataset's layout (e.g. the blind holdout):",
        "`tinyml evaluate --data DIR models/NAME/model_int8.tflite`.",
        "",
        "| model | task | data | int8 accuracy | balanced acc. | int8 weights KB | "
        "int8 file KB | TFLM arena KB (int8): Cortex-M4F / 64-bit host | "
        "float32 arena KB (host) | dynamic-range on TFLM |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in all_metrics:
        row = _row(m)
        claim = m["accuracy_claim"]
        lines.append(
            f"| {m['name']} | {m['task']} | {'real' if claim else 'SYNTHETIC'} | "
            f"{_pct(row['accuracy']) if claim else '(no claim)'} | "
            f"{_pct(row['balanced_accuracy']) if claim else '(no claim)'} | "
            f"{_kb(row['weights_bytes'])} | {_kb(row['model_bytes'])} | "
            f"{_kb(row['arena_bytes'])} / {_kb(row['host_arena_bytes'])} | "
            f"{_kb(row['float32_arena_bytes'])} | {row['dynamic_range_runs_on_tflm']} |"
        )
    for m in all_metrics:
        int8 = m["int8_tflite"]
        lines += [
            "",
            f"## {m['name']}",
            "",
            f"- Task: {m['task']}.",
            f"- Data: {m['data_note']} Source: `{m['data_source']}`.",
            f"- Split: {m['split']}. Test examples: {m['examples']['test']} "
            f"(train {m['examples']['train']}, val {m['examples']['val']}).",
            f"- Model: `{m['spec']}`, {m['parameters']:,} parameters, input "
            f"{tuple(m['input_shape'])}; {_epochs_text(m)}, seed {m['seed']}, "
            f"{m['train_seconds']} s.",
            f"- Targets: {_target_text(m) or 'none'}.",
        ]
        host = {v["variant"]: v for v in m["variants"]}["int8"]["tflm_arena_bytes"]
        if m.get("target_arena"):
            lines.append(
                f"- TFLM arena of the int8 file: {m['target_arena']['bytes']:,} B on the "
                f"Cortex-M4F ({m['target_arena']['how']}); {host:,} B in the 64-bit host runtime."
            )
        if m.get("reference_project"):
            lines.append(f"- Reference project: {m['reference_project']}.")
        if m.get("notes"):
            lines.append(f"- Notes: {m['notes']}")
        if m["accuracy_claim"]:
            lines.append(
                f"- int8 file: accuracy {_pct(int8['accuracy'])}, balanced accuracy "
                f"{_pct(int8['balanced_accuracy'])}"
                + (
                    f", false-alarm rate {_pct(int8['false_alarm_rate'])}"
                    if "false_alarm_rate" in int8
                    else ""
                )
                + f"; Keras float model {_pct(m['keras']['accuracy'])}; in TFLM "
                f"{_pct(m['int8_tflm']['accuracy'])}."
            )
            recalls = ", ".join(f"{k} {_pct(v)}" for k, v in int8["per_class_recall"].items())
            lines.append(f"- Per-class recall (int8): {recalls}.")
            if m.get("operating_points"):
                points = "; ".join(
                    f"t={p['threshold']}: recall {_pct(p['recall'])}, false alarms "
                    f"{_pct(p['false_alarm_rate'])}, balanced {_pct(p['balanced_accuracy'])}"
                    for p in m["operating_points"]
                )
                lines.append(
                    "- Operating points (class 1 fires when its int8 output >= t; headline = "
                    f"argmax, t=0.5; measured on the test split, not used for selection): {points}."
                )
            if m.get("false_alarms_by_word"):
                fa = ", ".join(
                    f"{w} {n}"
                    for w, n in sorted(m["false_alarms_by_word"].items(), key=lambda kv: -kv[1])
                )
                lines.append(f"- False alarms by spoken word (test split): {fa}.")
        else:
            lines.append("- Accuracy: not claimed (synthetic data).")
        cmp = m["int8_tflm_vs_tflite"]
        lines.append(
            f"- int8 outputs, TFLM vs TFLite (reference kernels), {cmp['examples']} test inputs: "
            + (
                "identical."
                if cmp["identical_outputs"]
                else f"{cmp['examples_differing']} differ by at most {cmp['max_step_difference']} "
                f"quantization step(s), {cmp['predictions_differing']} predicted class(es) "
                "differ. Cause: LiteRT's reference FULLY_CONNECTED requantizes in float, TFLM "
                "in integers (LiteRT issue #8567); a one-step difference there is amplified "
                "by the layers after it. TFLM's own outputs are what a device computes."
            )
        )
        lines += [
            "",
            "| variant | weights KB | file KB | accuracy | runs on TFLM | host arena KB | why not |",
            "|---|---:|---:|---:|---|---:|---|",
        ]
        for v in m["variants"]:
            acc = _pct(v["accuracy"]) if m["accuracy_claim"] else "(no claim)"
            lines.append(
                f"| {v['variant']} | {_kb(v['weights_bytes'])} | {_kb(v['model_bytes'])} | {acc} | "
                f"{v['runs_on_tflm']} | {_kb(v['tflm_arena_bytes'])} | "
                f"{(v.get('tflm_reason') or '')[:140]} |"
            )
        if m["accuracy_claim"]:
            names = m["class_names"]
            lines += [
                "",
                "Confusion matrix of the int8 file (rows = true, columns = predicted):",
                "",
            ]
            lines.append("| true \\ predicted | " + " | ".join(names) + " |")
            lines.append("|---|" + "---:|" * len(names))
            for name, row in zip(names, int8["confusion"], strict=True):
                lines.append(f"| {name} | " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"
