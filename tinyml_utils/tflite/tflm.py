"""Will a .tflite model run on a microcontroller, and how much RAM (tensor arena) does it need?

TensorFlow Lite Micro (TFLM) keeps every tensor, buffer and bookkeeping struct in one byte
array, the *tensor arena*, whose size you choose at compile time (``uint8_t arena[N]``).
Too small and ``AllocateTensors()`` fails (or, below a few hundred bytes, the runtime can
even crash). :func:`measure_arena` finds the smallest ``N`` with which the real TFLM
runtime (the ``tflite_micro`` Python package, same C++ kernels as on the device) both
allocates and invokes the model on a zero input::

    from tinyml_utils.tflite.tflm import measure_arena, classify_tflm_support
    report = measure_arena("model_int8.tflite")
    report.arena_bytes, report.runs, report.reason
    print(report.allocations)          # TFLM's own print_allocations() breakdown

How it searches (a few hundred milliseconds per model):

1. One probe with a generous arena (10x the model size, at least 64 KiB) that records the
   allocations: TFLM's ``RecordingMicroAllocator`` reports the bytes it actually used.
2. An ascending scan of multiples of 16 bytes around that total, stopping at the first size
   that works (falling back to bisection if the window misses).

Every probe runs in a child process (``python -m tinyml_utils.tflite._tflm_probe``): a
far-too-small arena can SEGFAULT, and a probe that dies by a signal counts as "does not
fit". Sizes are multiples of 16 because TFLM aligns its arena to 16 bytes: the minimum at
byte resolution depends on where the buffer starts in memory, the 16-byte one does not.
Results are cached per model (SHA-256 of the bytes), so repeated calls are free.

When TFLM refuses the model (``runs=False``), ``reason`` holds TFLM's own message plus a
plain-language explanation and fix. :func:`classify_tflm_support` finds the usual culprits
without running anything: hybrid (dynamic-range) ops, float16 weights, Flex (select TF) ops,
custom ops and builtin ops that TFLM does not implement.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from tinyml_utils.tflite._child import child_env
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes
from tinyml_utils.tflite.reader import model_info

#: Builtin operators with a TFLM kernel in the pinned tflite-micro runtime (its
#: ``Register_*`` kernels; the Python runtime registers all of them).
TFLM_BUILTIN_OPS: frozenset[str] = frozenset(
    """ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL
    BATCH_TO_SPACE_ND BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS
    CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU
    EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER
    GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS
    LESS_EQUAL LOG LOG_SOFTMAX LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC MAX_POOL_2D MAXIMUM
    MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE
    REDUCE_ALL REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR
    REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH
    SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH
    TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
    """.split()
)

#: Custom operators TFLM ships kernels for (others need your own kernel in the firmware).
TFLM_CUSTOM_OPS: frozenset[str] = frozenset(
    {"ETHOSU", "TFLite_Detection_PostProcess", "CIRCULAR_BUFFER", "DECODE"}
)

#: Ops whose weights (input 1) may be int8 while activations are float: "hybrid" kernels.
_WEIGHT_OPS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "BATCH_MATMUL",
        "EMBEDDING_LOOKUP",
        "SVDF",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "UNIDIRECTIONAL_SEQUENCE_RNN",
        "BIDIRECTIONAL_SEQUENCE_LSTM",
        "LSTM",
        "RNN",
        "TRANSPOSE_CONV",
    }
)

ARENA_ALIGNMENT = 16
_MIN_FIRST_ARENA = 64 * 1024
_DEFAULT_MAX_ARENA = 256 * 1024 * 1024


# --------------------------------------------------------------------------- static check


@dataclass(frozen=True)
class SupportIssue:
    """One reason TFLM cannot run a model, found by reading the file."""

    kind: str  # "hybrid" | "float16" | "flex" | "custom" | "missing_op"
    op_index: int | None
    op: str
    detail: str
    fix: str


@dataclass
class TFLMSupport:
    """Result of :func:`classify_tflm_support`: ``ok`` when no issue was found."""

    issues: list[SupportIssue] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def kinds(self) -> list[str]:
        return sorted({i.kind for i in self.issues})

    def summary(self) -> str:
        """One line per kind of issue: what and how to fix it."""
        if self.ok:
            return "no known TFLM blocker: every op has a TFLM kernel for these types"
        lines = []
        for kind in self.kinds:
            found = [i for i in self.issues if i.kind == kind]
            where = ", ".join(
                sorted(
                    {
                        f"{i.op}" + (f" #{i.op_index}" if i.op_index is not None else "")
                        for i in found
                    }
                )
            )
            lines.append(f"{_KIND_TITLES[kind]} ({where}): {found[0].detail} Fix: {found[0].fix}")
        return "\n".join(lines)

    def to_frame(self):
        import pandas as pd

        cols = ["kind", "op_index", "op", "detail", "fix"]
        return pd.DataFrame([i.__dict__ for i in self.issues], columns=cols)


_KIND_TITLES = {
    "hybrid": "hybrid / dynamic-range ops",
    "float16": "float16 weights",
    "flex": "Flex (select TensorFlow) ops",
    "custom": "custom ops",
    "missing_op": "ops missing in TFLM",
}

_FIX_HYBRID = (
    "convert with full integer quantization (tinyml_utils.tflite.convert.convert(model, 'int8', "
    "representative_data=x_train[:200])) or keep float32."
)
_FIX_FLOAT16 = "convert to int8 (smallest, fastest on an MCU) or keep float32."
_FIX_FLEX = (
    "do not enable SELECT_TF_OPS; replace the layer by builtin ops (e.g. avoid tf.signal / "
    "string ops inside the model, compute features outside it)."
)
_FIX_MISSING = (
    "replace the layer by one TFLM implements (Conv/DepthwiseConv/Dense/Pool/Reshape/Softmax "
    "...), or write and register a kernel in the firmware."
)


def classify_tflm_support(model: ModelLike) -> TFLMSupport:
    """Read the model and name everything TFLM cannot run, with the fix for each.

    Kinds: ``hybrid`` (dynamic-range quantization: int8 weights feeding an op whose
    activations are float32; TFLM has no hybrid kernels), ``float16`` (float16 weights
    that a DEQUANTIZE op would expand at run time; TFLM's DEQUANTIZE takes int8/int16/uint8
    only), ``flex`` (select TensorFlow ops, custom code ``Flex...``), ``custom`` (custom
    ops other than the few TFLM ships), ``missing_op`` (builtin ops with no TFLM kernel).
    """

    info = model_info(model)
    support = TFLMSupport(ops=[op.name for op in info.ops])
    for op in info.ops:
        name = op.name
        if op.custom_code is not None:
            code = op.custom_code
            if code.startswith("Flex"):
                support.issues.append(
                    SupportIssue(
                        "flex",
                        op.index,
                        name,
                        f"{code} is a TensorFlow op run by the Flex delegate, absent on MCUs.",
                        _FIX_FLEX,
                    )
                )
            elif code not in TFLM_CUSTOM_OPS:
                support.issues.append(
                    SupportIssue(
                        "custom",
                        op.index,
                        name,
                        f"custom op {code!r} has no kernel in TFLM.",
                        "register your own kernel in the firmware, or rebuild the model "
                        "from builtin ops.",
                    )
                )
            continue
        if name not in TFLM_BUILTIN_OPS:
            support.issues.append(
                SupportIssue(
                    "missing_op",
                    op.index,
                    name,
                    f"TFLM has no kernel for the builtin op {name}.",
                    _FIX_MISSING,
                )
            )
            continue
        inputs = [info.tensors[i] for i in op.inputs if i >= 0]
        if name == "DEQUANTIZE" and inputs and inputs[0].dtype == "float16":
            support.issues.append(
                SupportIssue(
                    "float16",
                    op.index,
                    name,
                    f"tensor {inputs[0].name!r} is stored as float16; TFLM's DEQUANTIZE "
                    "accepts int8/int16/uint8 inputs only.",
                    _FIX_FLOAT16,
                )
            )
        elif name in _WEIGHT_OPS and len(inputs) >= 2:
            act, weight = inputs[0], inputs[1]
            if (
                act.dtype == "float32"
                and weight.is_constant
                and weight.dtype in ("int8", "uint8", "int4")
            ):
                support.issues.append(
                    SupportIssue(
                        "hybrid",
                        op.index,
                        name,
                        f"float32 activations with {weight.dtype} weights "
                        f"({weight.name!r}) need a hybrid kernel, which TFLM does not have.",
                        _FIX_HYBRID,
                    )
                )
    return support


# --------------------------------------------------------------------------- arena probe


@dataclass
class ArenaReport:
    """What :func:`measure_arena` found.

    Attributes:
        arena_bytes: smallest arena (multiple of 16) that allocates AND invokes, or None.
        runs: whether TFLM runs the model at all.
        reason: one paragraph: the size found, or TFLM's message + explanation + fix.
        allocations: TFLM's ``print_allocations()`` text (with the generous arena).
        recorded_total: the arena bytes TFLM recorded as used in that generous run.
        probes: number of arena sizes tried.
        log: raw TFLM output (fd 2) of the decisive failure, if any.
    """

    arena_bytes: int | None
    runs: bool
    reason: str
    allocations: str = ""
    recorded_total: int | None = None
    probes: int = 0
    log: str = ""

    def allocation_table(self):
        """``allocations`` as a DataFrame (item, used_bytes, requested_bytes, count)."""
        return parse_allocations(self.allocations)


_CACHE: dict[tuple[str, int], ArenaReport] = {}

_ALLOC_LINE = re.compile(
    r"'(?P<item>[^']+)' used (?P<used>\d+) bytes with alignment overhead "
    r"\(requested (?P<req>\d+) bytes for (?P<count>\d+) (?P<unit>[^)]*)\)"
)
_ARENA_LINE = re.compile(r"Arena allocation (?P<part>total|head|tail) (?P<bytes>\d+) bytes")


def parse_allocations(text: str):
    """Parse TFLM's ``print_allocations()`` output into a DataFrame.

    Rows: ``arena total/head/tail`` (head = the planned non-persistent area, i.e. the
    activations and scratch buffers; tail = persistent structs and buffers), then each
    recorded allocation type with its bytes used (with alignment), bytes requested and count.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for m in _ARENA_LINE.finditer(text):
        rows.append(
            {
                "item": f"arena {m['part']}",
                "used_bytes": int(m["bytes"]),
                "requested_bytes": None,
                "count": None,
            }
        )
    for m in _ALLOC_LINE.finditer(text):
        rows.append(
            {
                "item": m["item"],
                "used_bytes": int(m["used"]),
                "requested_bytes": int(m["req"]),
                "count": int(m["count"]),
            }
        )
    return pd.DataFrame(rows, columns=["item", "used_bytes", "requested_bytes", "count"])


def _round_up(n: int, k: int = ARENA_ALIGNMENT) -> int:
    return -(-n // k) * k


def _run_probe(
    path: str, sizes: list[int], stop_on_success: bool, timeout: float
) -> list[dict[str, Any]]:
    """Try ``sizes`` in child processes; a size that kills its process is a failure."""
    results: list[dict[str, Any]] = []
    remaining = list(sizes)
    while remaining:
        cmd = [sys.executable, "-m", "tinyml_utils.tflite._tflm_probe", path, *map(str, remaining)]
        if stop_on_success:
            cmd.append("--stop-on-success")
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=child_env()
            )
            stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr, rc = "timeout", None
        started: int | None = None
        done_here: list[dict[str, Any]] = []
        for line in stdout.splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "start" in item:
                started = int(item["start"])
            elif "arena" in item:
                done_here.append(item)
                started = None
        results.extend(done_here)
        if stop_on_success and any(r["ok"] for r in done_here):
            break
        tried = {r["arena"] for r in done_here}
        if started is not None or (rc not in (0, None) and not done_here):
            crashed = started if started is not None else remaining[0]
            how = f"signal {-rc}" if rc is not None and rc < 0 else f"exit {rc}"
            if rc is None:
                how = f"no answer within {timeout:.0f} s"
            results.append(
                {
                    "arena": crashed,
                    "ok": False,
                    "stage": "crash",
                    "crashed": True,
                    "error": f"TFLM process died ({how})",
                    "log": stderr[-2000:],
                }
            )
            tried.add(crashed)
        remaining = [s for s in remaining if s not in tried]
        if not done_here and started is None and rc == 0:
            break  # nothing happened; avoid looping forever
    return results


_MEMORY_ERROR = re.compile(
    r"Failed to allocate|Arena size is too small|missing: \d+|too small|Failed to resize",
    re.IGNORECASE,
)

_EXPLANATIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"with filter type: INT8 not supported|[Hh]ybrid"),
        "This is a dynamic-range (hybrid) model: weights are int8 but activations are float32, "
        "and TFLM has no hybrid kernels. Fix: " + _FIX_HYBRID,
    ),
    (
        re.compile(r"DEQUANTIZE|dequantize"),
        "The model stores float16 weights and expands them with DEQUANTIZE at run time; TFLM's "
        "DEQUANTIZE only takes int8/int16/uint8 inputs. Fix: " + _FIX_FLOAT16,
    ),
    (
        re.compile(r"Didn't find op for builtin opcode|Failed to get registration"),
        "The model uses an operator this TFLM build has no kernel for. Fix: " + _FIX_MISSING,
    ),
    (
        re.compile(r"Flex|custom", re.IGNORECASE),
        "The model uses a custom or Flex (select TensorFlow) op that TFLM does not have. Fix: "
        + _FIX_FLEX,
    ),
]


def _tflm_message(result: dict[str, Any]) -> str:
    lines = [ln.strip() for ln in result.get("log", "").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Input index")]
    text = " | ".join(lines[:6]) or result.get("error", "")
    return text[:600]


def _explain_failure(result: dict[str, Any], data: bytes) -> str:
    message = _tflm_message(result)
    explanation = ""
    if "op code CUSTOM" in message:  # TFLM does not name the custom op: read the file
        try:
            support = classify_tflm_support(data)
            explanation = "" if support.ok else support.summary()
        except Exception:  # the static check is only a hint here
            explanation = ""
    for pattern, text in [] if explanation else _EXPLANATIONS:
        if pattern.search(message):
            explanation = text
            break
    if not explanation:
        try:
            support = classify_tflm_support(data)
            if not support.ok:
                explanation = support.summary()
        except Exception:  # the static check is only a hint here
            explanation = ""
    if not explanation:
        explanation = (
            "TFLM could not prepare the model. Check it with tinyml_utils.tflite.tflm."
            "classify_tflm_support() and convert it to full int8."
        )
    stage = "while loading/allocating" if result.get("stage") == "allocate" else "at invoke"
    if result.get("crashed"):
        stage = "(the runtime crashed)"
    return f"TFLM refused the model {stage}: {message!s} -- {explanation}"


def _scan(
    path: str, sizes: list[int], ok_size: int, fail_size: int, timeout: float
) -> tuple[int, int, int]:
    """Try ``sizes`` ascending; returns the updated (smallest ok, largest failing, probes)."""
    if not sizes:
        return ok_size, fail_size, 0
    results = _run_probe(path, sorted(sizes), stop_on_success=True, timeout=timeout)
    for r in results:
        if r["ok"]:
            ok_size = min(ok_size, r["arena"])
    fails = [r["arena"] for r in results if not r["ok"] and r["arena"] < ok_size]
    return ok_size, max([fail_size, *fails]), len(results)


def measure_arena(
    model: ModelLike, max_arena: int = _DEFAULT_MAX_ARENA, timeout: float = 120.0
) -> ArenaReport:
    """Smallest TFLM tensor arena (bytes, multiple of 16) that allocates AND invokes ``model``.

    Args:
        model: .tflite bytes or path (validated by ``load_model_bytes``).
        max_arena: give up above this size (bytes).
        timeout: seconds allowed per probe process.

    Returns:
        :class:`ArenaReport`. ``runs=False`` with TFLM's message and the fix when TFLM
        refuses the model; ``arena_bytes`` is then None.
    """
    data = load_model_bytes(model)
    key = (hashlib.sha256(data).hexdigest(), max_arena)
    if key in _CACHE:
        return _CACHE[key]
    with tempfile.TemporaryDirectory(prefix="tflm_probe_") as tmp:
        path = os.path.join(tmp, "model.tflite")
        with open(path, "wb") as f:
            f.write(data)
        report = _measure(path, data, max_arena, timeout)
    _CACHE[key] = report
    return report


def _measure(path: str, data: bytes, max_arena: int, timeout: float) -> ArenaReport:
    probes = 0
    big = _round_up(max(10 * len(data), _MIN_FIRST_ARENA))
    while True:
        first = _run_probe(path, [big], stop_on_success=True, timeout=timeout)[-1]
        probes += 1
        if first["ok"]:
            break
        too_small = bool(_MEMORY_ERROR.search(_tflm_message(first)))
        if too_small and big < max_arena:
            big = min(_round_up(big * 8), _round_up(max_arena))
            continue
        if too_small:
            reason = (
                f"TFLM could not fit the model in {big:,} bytes ({_tflm_message(first)}). "
                "Fix: a smaller model (fewer filters/units, more pooling early) or raise "
                "max_arena."
            )
        else:
            reason = _explain_failure(first, data)
        return ArenaReport(None, False, reason, probes=probes, log=first.get("log", ""))

    allocations = first.get("allocations", "")
    totals = {m["part"]: int(m["bytes"]) for m in _ARENA_LINE.finditer(allocations)}
    recorded = totals.get("total")
    ok_size, fail_size = big, 0
    if recorded is not None:  # the minimum is usually within a few hundred bytes of it
        base = _round_up(recorded)
        window = list(range(base - 2 * ARENA_ALIGNMENT, base + 16 * ARENA_ALIGNMENT, 16))
        ok_size, fail_size, n = _scan(path, [s for s in window if 0 < s < big], ok_size, 0, timeout)
        probes += n
    # k-ary search: up to 32 sizes per child process, ascending, stopping at the first fit.
    while ok_size - fail_size > ARENA_ALIGNMENT:
        between = list(range(fail_size + ARENA_ALIGNMENT, ok_size, ARENA_ALIGNMENT))
        if len(between) > 64:
            step = len(between) / 32
            between = sorted({between[int(i * step)] for i in range(32)})
        ok_size, fail_size, n = _scan(path, between, ok_size, fail_size, timeout)
        probes += n
    head, tail = totals.get("head"), totals.get("tail")
    parts = f" = head {head:,} + tail {tail:,}" if head is not None and tail is not None else ""
    reason = (
        f"TFLM allocates and invokes the model with a {ok_size:,}-byte arena "
        f"({ok_size - ARENA_ALIGNMENT:,} bytes fail); it recorded {recorded or 0:,} bytes "
        f"used{parts} (head: activations and scratch buffers, tail: persistent data)."
    )
    return ArenaReport(ok_size, True, reason, allocations, recorded, probes)
