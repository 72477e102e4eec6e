"""Checkers for the notebooks' exercises (otter-grader / nbgrader style, without a server).

Every exercise in a notebook is a cell tagged ``exercise`` (the student's answer) followed by
a cell tagged ``check`` that calls one function of this module. A checker knows the
*properties* of a right answer (it recomputes them from the run, or tests the student's
function on cases of its own), never a hard-coded value, and prints feedback that says
what is wrong and where to look.

Modes, set once per notebook by :func:`start`:

* student mode (``solutions=False``, the default): a wrong or missing answer prints
  feedback and the notebook goes on; a checker never raises, even if the answer does.
* solutions mode (``solutions=True``, the teacher build and CI): the answers come from
  :mod:`tinyml_utils.notebook.solutions`, and a check that fails raises
  :class:`ExerciseFailed`, so a broken exercise stops the run.

Each check is recorded in ``OUTPUT_DIR/results.json`` under ``"exercises"``
(``{"00.1": true, ...}``), which the tests read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.analyze.diagnose import diagnose
from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.deploy.op_resolver import resolver_methods
from tinyml_utils.model.cnn import build_cnn
from tinyml_utils.optimize.boards import check_fit
from tinyml_utils.tflite.convert import convert
from tinyml_utils.tflite.tflm import measure_arena

_STATE: dict[str, Any] = {"output_dir": None, "solutions": False}


class ExerciseFailed(TinyMLError, AssertionError):
    """A check failed in solutions mode: the exercise or its solution is broken."""


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``passed`` and the feedback printed to the student."""

    exercise: str
    passed: bool
    feedback: str

    def __bool__(self) -> bool:
        return self.passed


def start(output_dir: str | Path | None, solutions: bool = False) -> None:
    """Set where checks are recorded and the mode (see the module docstring)."""
    _STATE["output_dir"] = Path(output_dir) if output_dir is not None else None
    _STATE["solutions"] = bool(solutions)
    print(
        "Exercises: "
        + (
            "SOLUTIONS mode (answers filled in; every check must pass)."
            if solutions
            else "student mode (fill in the cells tagged 'exercise', then run the check below)."
        )
    )


def _record(exercise: str, passed: bool) -> None:
    out = _STATE["output_dir"]
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.setdefault("exercises", {})[exercise] = bool(passed)
    path.write_text(json.dumps(current, indent=2, default=str))


def _finish(exercise: str, problems: list[str], success: str) -> Check:
    passed = not problems
    if passed:
        text = f"Exercise {exercise}: correct. {success}"
    else:
        text = f"Exercise {exercise}: not yet.\n" + "\n".join(f"  - {p}" for p in problems)
    print(text)
    _record(exercise, passed)
    if not passed and _STATE["solutions"]:
        raise ExerciseFailed(f"solution of exercise {exercise} fails its check: {problems}")
    return Check(exercise, passed, text)


def _guarded(exercise: str, answer: Any, body: Callable[[], tuple[list[str], str]]) -> Check:
    """Run a checker body; a missing answer or one that raises becomes feedback."""
    if answer is None or answer is Ellipsis:
        return _finish(exercise, ["no answer yet: fill in the exercise cell above and run it"], "")
    try:
        problems, success = body()
    except ExerciseFailed:
        raise
    except Exception as exc:  # the student's code may raise anything: report, don't stop
        problems, success = [f"your answer raised {type(exc).__name__}: {exc}"], ""
    return _finish(exercise, problems, success)


# ---------------------------------------------------------------- quantization arithmetic


def check_quantized(exercise: str, q: Any, x: np.ndarray, scale: float, zero_point: int) -> Check:
    """``q`` must be ``x`` quantized to int8: ``round(x / scale) + zero_point``, clipped."""

    def body():
        arr = np.asarray(q)
        expected = np.clip(np.round(np.asarray(x) / scale) + zero_point, -128, 127)
        problems = []
        if arr.shape != expected.shape:
            return [f"shape {arr.shape}, expected {expected.shape} (quantize every value)"], ""
        if arr.dtype != np.int8:
            problems.append(f"dtype is {arr.dtype}: the model's input tensor is int8 (.astype)")
        off = np.abs(arr.astype(np.int64) - expected.astype(np.int64))
        if off.max() > 0:
            i = int(off.argmax())
            problems.append(
                f"{int((off > 0).sum())} of {off.size} values differ, e.g. x={np.ravel(x)[i]:.4f} "
                f"gives {np.ravel(arr)[i]}, not {int(np.ravel(expected)[i])}: divide by the "
                "scale, round, add the zero point, clip to [-128, 127]"
            )
        return problems, f"All {arr.size} values match q = round(x / scale) + zero_point."

    return _guarded(exercise, q, body)


def check_symmetric_int8(exercise: str, quantize: Callable | None) -> Check:
    """``quantize(w) -> (q, scale)``: symmetric per-tensor int8, as TFLite stores weights."""

    def body():
        rng = np.random.default_rng(7)
        problems = []
        for w in (rng.normal(0, 0.3, 40), rng.uniform(-2, 0.5, (4, 5)), np.array([0.0, 1e-3])):
            q, scale = quantize(w)
            q = np.asarray(q)
            if q.shape != w.shape or q.dtype != np.int8:
                problems.append(
                    f"q must be int8 with the shape of w {w.shape}: {q.dtype} {q.shape}"
                )
                break
            if not scale > 0:
                problems.append(f"scale must be positive, got {scale}")
                break
            if q.min() < -127:
                problems.append(
                    "symmetric int8 uses [-127, 127] (TFLite never stores -128 weights)"
                )
            if np.abs(q).max() != 127:
                problems.append(
                    f"the largest |q| is {np.abs(q).max()}, not 127: scale = max|w| / 127 "
                    "uses the whole range (a larger scale wastes precision)"
                )
            err = np.abs(w - q.astype(float) * scale).max()
            if err > scale / 2 + 1e-9:
                problems.append(
                    f"read-back error {err:.3g} > half a step ({scale / 2:.3g}): round, "
                    "don't truncate"
                )
            if problems:
                break
        return problems, "Errors within half a step, full range used, zero point 0."

    return _guarded(exercise, quantize, body)


def check_sparsity(exercise: str, sparsity: Callable | None) -> Check:
    """``sparsity(weights) -> float``: the fraction of weights that are exactly zero."""

    def body():
        rng = np.random.default_rng(3)
        problems = []
        for shape, frac in (((5, 1, 3, 8), 0.5), ((64, 16), 0.8), ((10,), 0.0)):
            w = rng.normal(size=shape)
            n = int(round(frac * w.size))
            w.flat[rng.choice(w.size, n, replace=False)] = 0.0
            got = sparsity(w)
            if got is None or not np.isclose(float(got), n / w.size):
                problems.append(
                    f"kernel {shape} with {n} zeros of {w.size}: got {got}, want a fraction "
                    "in [0, 1] (count the exact zeros, divide by the size)"
                )
        return problems, "Zeros counted exactly, as a fraction of all weights."

    return _guarded(exercise, sparsity, body)


# ------------------------------------------------------------- choosing from measured tables


def check_smallest_meeting(
    exercise: str,
    answer: Any,
    candidates: Mapping[Any, tuple[float, float | None]],
    minimum: float | None = None,
    what: str = "size",
    score: str = "accuracy",
) -> Check:
    """``answer`` must be the candidate with the smallest ``what`` whose ``score`` >= ``minimum``.

    ``candidates`` maps a name to ``(size, score)`` as measured in this run.
    """

    def body():
        if answer not in candidates:
            return [f"{answer!r} is not one of {list(candidates)}"], ""
        ok = {k: v for k, v in candidates.items() if minimum is None or v[1] >= minimum}
        size, value = candidates[answer]
        problems = []
        if answer not in ok:
            problems.append(f"{answer!r} has {score} {value:.4f} < the required {minimum:.4f}")
        smaller = [k for k, v in ok.items() if v[0] < size]
        if smaller:
            problems.append(
                f"{smaller[0]!r} also qualifies and is smaller ({what} {ok[smaller[0]][0]:,} "
                f"< {size:,})"
            )
        bar = "" if minimum is None else f", {score} {value:.4f} >= {minimum:.4f}"
        return problems, f"{answer!r}: {what} {size:,}{bar}."

    return _guarded(exercise, answer, body)


def check_balanced_accuracy(exercise: str, value: Any, y_true, y_pred) -> Check:
    """``value`` must be the mean over the classes present of each class's recall."""

    def body():
        y_true_, y_pred_ = np.asarray(y_true), np.asarray(y_pred)
        recalls = [np.mean(y_pred_[y_true_ == c] == c) for c in np.unique(y_true_)]
        want = float(np.mean(recalls))
        plain = float(np.mean(y_true_ == y_pred_))
        got = float(value)
        if np.isclose(got, want, atol=5e-4):
            return [], f"{got:.4f} (plain accuracy {plain:.4f}: it favours the big classes)."
        hint = " That is the plain accuracy." if np.isclose(got, plain, atol=5e-4) else ""
        return [
            f"{got:.4f} is not the balanced accuracy.{hint} Compute the recall of every "
            "class (correct / windows of that class), then average them with equal weight."
        ], ""

    return _guarded(exercise, value, body)


def check_window_count(exercise: str, count_windows: Callable | None) -> Check:
    """``count_windows(n_samples, window, hop)``: windows that fit in one recording."""

    def body():
        problems = []
        for n, w, h in ((256, 256, 64), (1000, 256, 64), (255, 256, 64), (700, 100, 30), (0, 8, 1)):
            want = sum(1 for s in range(0, max(n, 0), h) if s + w <= n)
            got = count_windows(n, w, h)
            if got != want:
                problems.append(
                    f"{n} samples, window {w}, hop {h}: got {got}, want {want} (a window "
                    "starts every hop samples and must end inside the recording)"
                )
        return problems, "A recording shorter than the window gives none; windows never cross."

    return _guarded(exercise, count_windows, body)


def check_set(exercise: str, answer: Any, truth: set, what: str) -> Check:
    """``answer`` must be exactly the set ``truth`` (measured in this run) of ``what``."""

    def body():
        got = set(answer)
        problems = []
        if got - truth:
            problems.append(f"not {what}: {sorted(got - truth)}")
        if truth - got:
            problems.append(f"missing ({what}): {sorted(truth - got)}")
        return problems, f"{what}: {sorted(truth)}."

    return _guarded(exercise, answer, body)


def check_fit_answer(
    exercise: str, answer: Any, board: str, flash_bytes: int, ram_bytes: int | None
) -> Check:
    """``answer`` (True/False): does a model needing ``flash_bytes``/``ram_bytes`` fit?"""

    def body():
        fit = check_fit(board, flash_bytes, ram_bytes)
        if bool(answer) == fit.fits:
            return [], f"{board}: {fit.reason} (flash {fit.flash_used:.1%} used)."
        return [f"the measured numbers say {fit.fits}: {fit.reason}"], ""

    return _guarded(exercise, answer, body)


def check_spec_fits(exercise: str, spec: Any, data, board: str, ram_reserve: int) -> Check:
    """``spec`` (a CNNSpec) must give an int8 model whose measured arena and file fit
    ``board`` with ``ram_reserve`` bytes of RAM left for the rest of the firmware."""

    def body():
        model = build_cnn(spec, seed=0)
        blob = convert(model, "int8", data.x_train, num_calibration=50)
        arena = measure_arena(blob).arena_bytes
        fit = check_fit(board, len(blob), arena, ram_reserve=ram_reserve)
        facts = f"{model.count_params():,} weights, file {len(blob):,} B, arena {arena} B"
        if fit.fits:
            return [], f"{facts}: fits {board} ({ram_reserve} B of RAM kept for the sketch)."
        return [
            f"{facts}: {fit.reason}. Fewer filters, or pool earlier: the arena holds the "
            "largest activations"
        ], ""

    return _guarded(exercise, spec, body)


# ----------------------------------------------------------------- firmware-facing answers

_ADD = re.compile(r"\b(Add[A-Z]\w*)\s*\(")


def check_resolver(exercise: str, code: Any, model) -> Check:
    """``code`` (C++ text) must register exactly the model's ops in a
    ``MicroMutableOpResolver<N>`` with N = their number."""

    def body():
        need = set(resolver_methods(model))
        got = _ADD.findall(str(code))
        problems = []
        if set(got) - need:
            problems.append(f"not used by the model (wasted flash): {sorted(set(got) - need)}")
        if need - set(got):
            problems.append(
                f"missing: {sorted(need - set(got))} (boot fails with \"Didn't find op for "
                'builtin opcode")'
            )
        dup = sorted({m for m in got if got.count(m) > 1})
        if dup:
            problems.append(f"registered twice: {dup} (each op kind once)")
        n = re.search(r"MicroMutableOpResolver\s*<\s*(\d+)\s*>", str(code))
        if not n:
            problems.append("declare the resolver: tflite::MicroMutableOpResolver<N> resolver;")
        elif int(n.group(1)) < len(need):
            problems.append(f"<{n.group(1)}> is too small for {len(need)} op kinds")
        return problems, f"{len(need)} op kinds, each registered once."

    return _guarded(exercise, code, body)


def check_runs_on_tflm(exercise: str, model: Any) -> Check:
    """``model`` (Keras) must convert with builtins only and run in the TFLM runtime."""

    def body():
        d = diagnose(model)
        problems = []
        if d.flex_ops or d.custom_ops:
            problems.append(f"needs Flex/custom ops: {d.flex_ops + d.custom_ops}")
        if not d.tflm_runs:
            why = ", ".join(d.tflm_missing_ops) or d.tflm_message or d.tflm_failed_node
            problems.append(f"TFLM does not run it: {why}")
        return problems, f"ops {sorted(set(d.ops))}: TFLM runs it."

    return _guarded(exercise, model, body)


_HEX = re.compile(r"0[xX]([0-9a-fA-F]{1,2})\b")


def check_c_array(exercise: str, to_c_array: Callable | None, model: bytes) -> Check:
    """``to_c_array(data, name) -> str``: C source whose array holds ``data`` byte for byte,
    ``const`` (flash, not RAM) and ``alignas(16)``, with a length variable."""

    def body():
        text = to_c_array(model, "g_model")
        if not isinstance(text, str):
            return [f"to_c_array returned {text!r}: return the C source as a string"], ""
        problems = []
        values = bytes(int(h, 16) for h in _HEX.findall(text))
        if values != model:
            problems.append(
                f"the array holds {len(values)} bytes, the model {len(model)}"
                + ("" if len(values) != len(model) else " (same length, different bytes)")
                + ": write every byte as 0x.., in order"
            )
        if not re.search(r"\bconst\b[^;{]*g_model\s*\[", text):
            problems.append("the array is not const: startup code would copy it into RAM")
        if "alignas(16)" not in text.replace(" ", ""):
            problems.append("no alignas(16): TFLM reads weights in place and needs it aligned")
        if not re.search(rf"g_model_len\w*\s*=\s*{len(model)}\b", text):
            problems.append(f"declare the length: const unsigned int g_model_len = {len(model)};")
        return problems, f"{len(model)} bytes, const, aligned: ready to compile."

    return _guarded(exercise, to_c_array, body)


def check_conv_macs(exercise: str, answer: Any, layers, index: int) -> Check:
    """``answer``: the MACs of op ``index`` (a CONV_2D) from its output and kernel shapes,
    compared with the package's counter (``layers``: the benchmark's per-op table)."""

    def body():
        row = layers.set_index("index").loc[index]
        want = int(row["macs"])
        if int(answer) == want:
            return [], f"{want:,} MACs = output elements x (kernel height x width x in channels)."
        return [
            f"{int(answer):,} != {want:,} (output shape {row['output_shape']}): every output "
            "value is one dot product of kernel height x kernel width x input channels"
        ], ""

    return _guarded(exercise, answer, body)
