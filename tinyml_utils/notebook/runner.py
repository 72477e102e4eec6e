"""Execute the workbook's notebooks headlessly with papermill.

    tinyml run-notebooks --quick            # every notebook, fast parameters
    tinyml run-notebooks --only 00 03       # just these numbers

Every notebook has a cell tagged ``parameters`` defining at least QUICK, EPOCHS,
DATA_SOURCE, DATA_DIR and OUTPUT_DIR. The runner passes QUICK, DATA_SOURCE and OUTPUT_DIR
(``build/notebooks/<notebook name>/``, where the notebook saves its tables and plots),
writes the executed copy to ``build/notebooks/<notebook>.ipynb`` and a summary of all
runs, with whatever each notebook saved in ``results.json``, to ``build/notebooks/SUMMARY.md``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.files import output_folder
from tinyml_utils.core.paths import build_dir, notebooks_dir, portable_source, repo_root
from tinyml_utils.notebook.viewer import HEADLESS_ENV

NOTEBOOK_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")


class NotebookFailed(TinyMLError):
    """A notebook raised: the message names the notebook, the cell and the error."""


@dataclass
class NotebookRun:
    notebook: str
    status: str
    seconds: float
    output: str
    error: str = ""
    results: dict[str, Any] = field(default_factory=dict)


def find_notebooks(only: list[str] | None = None, directory: Path | None = None) -> list[Path]:
    """The numbered notebooks (``NN_topic.ipynb``), in order; ``only`` filters by NN."""
    directory = directory or notebooks_dir()
    found = sorted(p for p in directory.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))
    if only:
        wanted = {n.zfill(2) for n in only}
        unknown = wanted - {p.name[:2] for p in found}
        if unknown:
            raise TinyMLError(
                f"no notebook numbered {', '.join(sorted(unknown))} in {directory}; "
                f"have {', '.join(p.name for p in found)}."
            )
        found = [p for p in found if p.name[:2] in wanted]
    return found


def output_dir_for(notebook: Path, out_root: Path) -> Path:
    return out_root / notebook.stem


def execute_notebook(
    notebook: Path,
    out_root: Path | None = None,
    quick: bool = True,
    parameters: dict[str, Any] | None = None,
    progress: bool = True,
    timeout: int = 1800,
) -> NotebookRun:
    """Run one notebook with papermill; raise NotebookFailed naming the failing cell."""
    import papermill as pm

    os.environ[HEADLESS_ENV] = "1"  # the kernel inherits it: viewers skip, and say so
    out_root = Path(
        out_root or (build_dir() / "notebooks")
    ).resolve()  # notebooks run in notebooks/
    artifacts = output_dir_for(notebook, out_root)
    artifacts.mkdir(parents=True, exist_ok=True)
    executed = out_root / notebook.name
    params: dict[str, Any] = {"QUICK": quick, "OUTPUT_DIR": str(artifacts)}
    params.update(parameters or {})
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(notebook),
            str(executed),
            parameters=params,
            kernel_name="python3",
            progress_bar=progress,
            cwd=str(notebook.parent),
            execution_timeout=timeout,
            log_output=False,
        )
    except pm.PapermillExecutionError as exc:
        cell_number, first_line = _failing_cell(executed)
        raise NotebookFailed(
            f"{notebook.name} failed in cell {cell_number} ({first_line!r}): "
            f"{exc.ename}: {exc.evalue}. The executed copy with the traceback is {executed}."
        ) from exc
    except Exception as exc:  # noqa: BLE001  (nbclient: DeadKernelError, timeouts, ...)
        died = "DeadKernel" in type(exc).__name__ or "died" in str(exc).lower()
        what = (
            "the kernel died (out of memory, os._exit, or a crash in native code)"
            if died
            else f"{type(exc).__name__}: {str(exc)[:300]}"
        )
        raise NotebookFailed(
            f"{notebook.name} failed: {what}. The partly executed copy is {executed}."
        ) from exc
    seconds = time.perf_counter() - start
    results_file = artifacts / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return NotebookRun(notebook.name, "ok", seconds, str(executed), results=results)


def _failing_cell(executed: Path) -> tuple[int | str, str]:
    """(1-based number of the failing cell in the ORIGINAL notebook, its first line)."""
    import nbformat

    added_by_papermill = {"injected-parameters", "papermill-error-cell-tag"}
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return "?", ""
    number = 0
    for cell in nb.cells:
        if added_by_papermill & set(cell.get("metadata", {}).get("tags", [])):
            continue
        number += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return number, cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return "?", ""


def write_summary(runs: list[NotebookRun], out_root: Path) -> Path:
    """build/notebooks/SUMMARY.md (and summary.json): one row per notebook run."""
    lines = [
        "# Notebook run summary",
        "",
        "| notebook | status | seconds | data | results |",
        "|---|---|---:|---|---|",
    ]
    for run in runs:
        data = data_kind(run.results.get("data_source"))
        results = "; ".join(
            f"{k}: {v}" for k, v in run.results.items() if k not in ("data_source", "split")
        )
        lines.append(
            f"| {run.notebook} | {run.status} | {run.seconds:.1f} | {data} | "
            f"{results or run.error} |"
        )
    noisy = [
        (run.notebook, problem)
        for run in runs
        if run.status == "ok" and Path(run.output).is_file()
        for problem in output_problems(run.output)
    ]
    if noisy:
        lines += ["", "Outputs a teacher should not see (`runner.output_problems`):", ""]
        lines += [f"- {name}, {problem}" for name, problem in noisy]
    path = out_root / "SUMMARY.md"
    path.write_text("\n".join(lines) + "\n")
    (out_root / "summary.json").write_text(json.dumps([vars(r) for r in runs], indent=2))
    return path


#: what an executed notebook's outputs must not hold: machine paths, reprs, native logs
_NOISE = {
    "PosixPath(": "a PosixPath repr (end the cell with `;` or print the name)",
    "loc(callsite": "an MLIR location dump (capture the converter's native output)",
    "Created TensorFlow Lite XNNPACK delegate": "LiteRT's XNNPACK log line",
    "/tmp/": "a temporary path",
}
_BAR = re.compile(r"\d+%\|")


def output_problems(executed: str | Path) -> list[str]:
    """What a teacher should not see in an executed notebook: absolute paths, reprs, native
    log lines, and progress bars saved as a frozen Jupyter widget (``tqdm.auto``: its text
    fallback is the bar's first state). One line per problem: ``cell N: ...``."""
    nb = json.loads(Path(executed).read_text())
    noise = {str(repo_root()): "an absolute path of this machine", **_NOISE}
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = "".join(out.get("text", "")) + "".join(
                "".join(v) if isinstance(v, list) else str(v)
                for k, v in data.items()
                if k.startswith("text/")
            )
            for needle, what in noise.items():
                if needle in text:
                    problems.append(f"cell {i}: {what}")
            widget = "application/vnd.jupyter.widget-view+json" in data
            if widget and _BAR.search(str(data.get("text/plain", ""))):
                problems.append(f"cell {i}: a progress bar saved as a frozen widget")
    return sorted(set(problems), key=lambda p: (int(p.split(":")[0][5:]), p))


def data_kind(source: Any) -> str:
    """ "real (local:../shared/data/x)", "SYNTHETIC" or "-" for a results.json data_source."""
    if not source:
        return "-"
    if str(source) == "synthetic":
        return "SYNTHETIC"
    return f"real ({portable_source(str(source))})"


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """NAME -> default value in the notebook's ``parameters`` cell (literal values only)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            defaults: dict[str, Any] = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name):
                        try:
                            defaults[target.id] = ast.literal_eval(node.value)
                        except ValueError:
                            defaults[target.id] = None  # an expression: type unknown
            return defaults
    return {}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse a ``--param`` whose value has another type than the notebook's default
    (``EPOCHS=abc`` would fail later in whatever cell first uses it)."""
    defaults = notebook_parameters(notebook)
    for name, value in parameters.items():
        default = defaults.get(name)
        if default is None or isinstance(default, str):
            continue  # unknown or None default, or text: any value will do
        fractional = isinstance(value, float) and not value.is_integer()
        int_default = isinstance(default, int) and not isinstance(default, bool)
        if _kind(value) != _kind(default) or (int_default and fractional):
            wanted = type(default).__name__
            raise TinyMLError(
                f"--param {name}={json.dumps(value)}: {notebook.name} expects {name} to be "
                f"{'an' if wanted[0] in 'aeiou' else 'a'} {wanted} (its default is "
                f"{default!r}). Fix: e.g. --param {name}={json.dumps(default)}."
            )


def run_notebooks(
    only: list[str] | None = None,
    quick: bool = True,
    out_root: Path | None = None,
    parameters: dict[str, Any] | None = None,
    keep_going: bool = False,
    directory: Path | None = None,
) -> list[NotebookRun]:
    """Execute the notebooks in order; stop at the first failure unless ``keep_going``.

    SUMMARY.md is written whatever happens to a notebook (even a dead kernel); parameters
    of the wrong type are refused before any notebook runs (:func:`check_parameters`).
    """
    out_root = output_folder(out_root or (build_dir() / "notebooks"))
    notebooks = find_notebooks(only, directory)
    for notebook in notebooks:
        check_parameters(notebook, parameters or {})
    runs: list[NotebookRun] = []
    failure: NotebookFailed | None = None
    for i, notebook in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {notebook.name}", flush=True)
        try:
            run = execute_notebook(notebook, out_root, quick, parameters)
        except NotebookFailed as exc:
            run = NotebookRun(notebook.name, "FAILED", 0.0, "", error=str(exc))
            failure = failure or exc
            print(f"    FAILED: {exc}", flush=True)
        else:
            print(f"    ok in {run.seconds:.1f} s -> {run.output}", flush=True)
        runs.append(run)
        if failure and not keep_going:
            break
    summary = write_summary(runs, out_root)
    print(f"summary: {summary}")
    if failure:
        raise failure
    return runs
