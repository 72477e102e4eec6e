"""``tinyml diagnose``: will this model run on a microcontroller, and if not, why?

    from tinyml_utils.analyze.diagnose import diagnose
    report = diagnose(keras_model)          # or a SavedModel folder, .h5/.keras, .tflite
    print(report.text())                    # issues, ops, and the resolver lines to paste
    report.resolver_lines                   # ["static tflite::MicroMutableOpResolver<4> ...", ...]

    tinyml diagnose model.tflite            # the same from the command line

What it does, in order:

1. **Convert with builtin ops only** (Keras models, SavedModels, tf.functions). If the
   converter refuses, it retries with ``SELECT_TF_OPS`` and names the *Flex* ops (whole
   TensorFlow kernels, which exist on phones with the Flex delegate but never on an MCU);
   if it still refuses, with ``allow_custom_ops`` and names the *custom* ops (no kernel
   anywhere until you write one). Each attempt and the converter's own words are kept.
2. **Read the .tflite**: every op of every subgraph, the Flex and custom ops, the
   TRANSPOSE ops (a ``channels_first`` layer makes the converter wrap the op in
   transposes: extra copies of the activations, extra time), and the static TFLM checks of
   :func:`tinyml_utils.tflite.tflm.classify_tflm_support` (hybrid / float16 / missing).
3. **Try it in TFLM** (``tinyml_utils.tflite.tflm.measure_arena``, the real TFLM runtime
   in a child process). TFLM looks up the kernel of every op before preparing any, and
   stops at the first one it lacks ("Didn't find op for builtin opcode 'X'"); so the
   diagnosis removes that op from a scratch copy of the model and tries again, until the
   lookup passes, to name *every* missing op. Prepare/invoke failures (a dynamic-range
   FULLY_CONNECTED: "Input type: FLOAT32 with filter type: INT8 not supported") are
   reported with TFLM's message.
4. **Resolver lines**: the ``MicroMutableOpResolver<N>`` declaration and one
   ``resolver.AddX();`` per distinct op (N = the number of Add calls), ops TFLM lacks as
   comments. Registering only these ops (instead of ``AllOpsResolver``) saves flash.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyml_utils.core.errors import DataError, ModelFileError
from tinyml_utils.core.quiet import native_output_captured
from tinyml_utils.tflite.convert import configure_converter, keras_converter
from tinyml_utils.tflite.interpreters import load_model_bytes
from tinyml_utils.tflite.ops import resolver_method
from tinyml_utils.tflite.reader import load_model_object, model_info
from tinyml_utils.tflite.tflm import classify_tflm_support, measure_arena

_MISSING_BUILTIN = re.compile(r"Didn't find op for builtin opcode '(\w+)'")
_MISSING_REGISTRATION = re.compile(r"Failed to get registration from op code (\w+)")
_PREPARE_FAILED = re.compile(r"Node (\w+) \(number (\d+)\) failed to (prepare|invoke)")


def resolver_lines(ops: list[str], missing: list[str] | None = None) -> list[str]:
    """C++ lines registering exactly the distinct ``ops`` (sorted), N = number of Add calls.

    Ops without a TFLM kernel (or listed in ``missing``) become comments that say so.
    """
    missing = set(missing or [])
    adds, comments = [], []
    for op in sorted(set(ops)):
        method = None if op in missing else resolver_method(op)
        if method:
            adds.append(f"resolver.{method}();")
        elif op.startswith("CUSTOM:Flex"):
            comments.append(f"// {op}: a TensorFlow (Flex) op, no TFLM kernel exists")
        elif op.startswith("CUSTOM:"):
            name = op.split(":", 1)[1]
            comments.append(
                f'// {op}: no TFLM kernel; write one and resolver.AddCustom("{name}", '
                f"Register_{name.upper()}());"
            )
        else:
            comments.append(f"// {op}: no TFLM kernel for this builtin op")
    head = f"static tflite::MicroMutableOpResolver<{len(adds)}> resolver;"
    return [head, *adds, *comments]


# --------------------------------------------------------------------------- conversion


@dataclass
class Attempt:
    """One conversion attempt: the op sets used and what the converter said."""

    ops_set: str
    ok: bool
    message: str = ""


def _short_converter_error(text: str) -> str:
    """The informative lines of a converter error (it also dumps MLIR locations)."""
    keep = []
    for line in str(text).splitlines():
        s = line.strip()
        if re.match(
            r"(Some ops|TF Select ops:|Custom ops:|error: Lowering tensor list|"
            r"error: '.*' op is neither|error: failed to legalize|ValueError|"
            r"error: '.*' op )",
            s,
        ) or ("'tf." in s and "op is neither" in s):
            s = re.sub(r"^.*?error: ", "error: ", s)
            if s not in keep:
                keep.append(s)
    return " | ".join(keep)[:800] or str(text).strip().splitlines()[-1][:400]


def _ops_from_message(message: str, label: str) -> list[str]:
    for line in message.split(" | "):
        if line.startswith(label):
            return [o.strip() for o in line[len(label) :].split(",") if o.strip()]
    return []


def _make_converter(model: Any, batch_size: int | None):
    """A TFLiteConverter for a Keras model, SavedModel dir, .h5/.keras file or tf.function.

    Keras models are converted with their input batch fixed to ``batch_size`` (1, as on a
    device, like :func:`tinyml_utils.tflite.convert.convert`); ``None`` keeps the model's own batch.
    """
    from tinyml_utils.core.tf import keras, tf

    if isinstance(model, str | os.PathLike):
        path = Path(model)
        if path.is_dir():
            if not (path / "saved_model.pb").exists():
                raise ModelFileError(
                    f"{path}: a folder without saved_model.pb is not a SavedModel."
                )
            try:  # a Keras SavedModel: convert it like a Keras model (batch fixed)
                loaded = keras.models.load_model(str(path), compile=False)
            except (ValueError, OSError, TypeError):
                loaded = None
            if isinstance(loaded, keras.Model):
                return keras_converter(loaded, batch_size)
            return tf.lite.TFLiteConverter.from_saved_model(str(path))  # its own signature
        if path.suffix in (".h5", ".keras", ".hdf5"):
            if not path.is_file():
                raise ModelFileError(f"{path}: no such file.")
            return keras_converter(keras.models.load_model(str(path), compile=False), batch_size)
        raise ModelFileError(
            f"{path}: give a .tflite file, a SavedModel folder or a Keras .h5/.keras file."
        )
    if isinstance(model, keras.Model):
        return keras_converter(model, batch_size)
    if hasattr(model, "get_concrete_function"):
        return tf.lite.TFLiteConverter.from_concrete_functions(
            [model.get_concrete_function()], model
        )
    if hasattr(model, "structured_input_signature"):  # already a ConcreteFunction
        return tf.lite.TFLiteConverter.from_concrete_functions([model])
    raise DataError(
        f"cannot diagnose a {type(model).__name__}: pass a Keras model, a tf.function with an "
        "input_signature, a SavedModel folder, a .h5/.keras file, or .tflite bytes/path."
    )


def _convert_once(
    model: Any,
    variant: str,
    representative_data,
    select_ops: bool,
    custom_ops: bool,
    batch_size: int | None = 1,
) -> bytes:
    from tinyml_utils.core.tf import tf

    converter = configure_converter(
        _make_converter(model, batch_size), variant, representative_data
    )
    ops = list(converter.target_spec.supported_ops)
    if select_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        # Keras RNNs with a dynamic batch become TensorList loops; with Flex enabled the
        # converter keeps them as Flex TensorList ops instead of failing to lower them.
        converter._experimental_lower_tensor_list_ops = False
    converter.target_spec.supported_ops = ops
    converter.allow_custom_ops = custom_ops
    # The converter writes its diagnostics (MLIR loc(callsite(...)) dumps of tens of KB,
    # "fully_quantize: 0, ...") to the C++ streams; the exception keeps what matters.
    error = None
    with native_output_captured():
        try:
            data = bytes(converter.convert())
        except Exception as exc:  # re-raised outside, so the capture is not replayed
            error = exc
    if error is not None:
        raise error
    return data


def convert_for_diagnosis(
    model: Any, variant: str = "float32", representative_data=None, batch_size: int | None = 1
) -> tuple[bytes | None, list[Attempt]]:
    """Builtins only; then + SELECT_TF_OPS; then + custom ops. Returns (bytes, attempts)."""
    attempts: list[Attempt] = []
    plans = (
        ("builtins", False, False),
        ("builtins + SELECT_TF_OPS", True, False),
        ("builtins + SELECT_TF_OPS + custom ops", True, True),
    )
    for label, select_ops, custom_ops in plans:
        try:
            data = _convert_once(
                model, variant, representative_data, select_ops, custom_ops, batch_size
            )
        except (DataError, ModelFileError):
            raise
        except Exception as exc:  # the converter raises ConverterError, ValueError, ...
            attempts.append(Attempt(label, False, _short_converter_error(str(exc))))
            continue
        attempts.append(Attempt(label, True))
        return data, attempts
    return None, attempts


# --------------------------------------------------------------------------- the report


@dataclass
class TransposeInfo:
    """One TRANSPOSE op: where, shapes, and the bytes it copies per inference."""

    index: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    bytes_copied: int


@dataclass
class Diagnosis:
    """Everything :func:`diagnose` found; :meth:`text` prints it, :attr:`issues` lists it."""

    source: str
    attempts: list[Attempt] = field(default_factory=list)
    model_bytes: bytes | None = field(default=None, repr=False)
    ops: list[str] = field(default_factory=list)  # every op, subgraph 0 first
    subgraphs: int = 0
    flex_ops: list[str] = field(default_factory=list)
    custom_ops: list[str] = field(default_factory=list)
    converter_select_ops: list[str] = field(default_factory=list)
    converter_custom_ops: list[str] = field(default_factory=list)
    transposes: list[TransposeInfo] = field(default_factory=list)
    static_issues: list[str] = field(default_factory=list)
    tflm_runs: bool | None = None
    tflm_missing_ops: list[str] = field(default_factory=list)
    tflm_failed_node: str = ""
    tflm_message: str = ""
    arena_bytes: int | None = None
    resolver_lines: list[str] = field(default_factory=list)

    @property
    def converted_with(self) -> str:
        ok = [a for a in self.attempts if a.ok]
        if ok:
            return ok[0].ops_set
        return "given as .tflite" if self.model_bytes is not None else "conversion failed"

    @property
    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op] = counts.get(op, 0) + 1
        return counts

    @property
    def issues(self) -> list[str]:
        """One line per problem; empty when the model converts with builtins and runs in TFLM."""
        out = []
        if self.model_bytes is None:
            out.append("the converter failed even with SELECT_TF_OPS and custom ops")
        needs_select = any(a.ops_set != "builtins" and a.ok for a in self.attempts)
        if needs_select:
            out.append(f"needs {self.converted_with} to convert")
        if self.flex_ops:
            out.append(f"Flex (select TF) ops: {', '.join(self.flex_ops)}")
        if self.custom_ops:
            out.append(f"custom ops: {', '.join(self.custom_ops)}")
        if self.transposes:
            total = sum(t.bytes_copied for t in self.transposes)
            out.append(
                f"{len(self.transposes)} TRANSPOSE op(s) copying {total:,} bytes per inference "
                "(layout changes: channels_first layers, time-major RNN loops)"
            )
        if self.tflm_missing_ops:
            out.append(f"TFLM has no kernel for: {', '.join(self.tflm_missing_ops)}")
        if self.tflm_runs is False and self.tflm_failed_node:
            out.append(f"TFLM refused {self.tflm_failed_node}: {self.tflm_message}")
        elif self.tflm_runs is False and not self.tflm_missing_ops:
            out.append(f"TFLM refused the model: {self.tflm_message}")
        return out

    def op_table(self):
        """DataFrame: op, count, TFLM kernel (yes/no/missing) and its resolver call."""
        import pandas as pd

        rows = []
        for op, count in sorted(self.op_counts.items()):
            method = None if op in self.tflm_missing_ops else resolver_method(op)
            rows.append(
                {
                    "op": op,
                    "count": count,
                    "tflm_kernel": "yes" if method else "no",
                    "resolver": f"resolver.{method}();" if method else "",
                }
            )
        return pd.DataFrame(rows, columns=["op", "count", "tflm_kernel", "resolver"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "converted_with": self.converted_with,
            "attempts": [a.__dict__ for a in self.attempts],
            "model_bytes": len(self.model_bytes) if self.model_bytes is not None else None,
            "subgraphs": self.subgraphs,
            "op_counts": self.op_counts,
            "flex_ops": self.flex_ops,
            "custom_ops": self.custom_ops,
            "transposes": [t.__dict__ for t in self.transposes],
            "static_issues": self.static_issues,
            "tflm_runs": self.tflm_runs,
            "tflm_missing_ops": self.tflm_missing_ops,
            "tflm_failed_node": self.tflm_failed_node,
            "tflm_message": self.tflm_message,
            "arena_bytes": self.arena_bytes,
            "resolver_lines": self.resolver_lines,
            "issues": self.issues,
        }

    def text(self) -> str:
        """The human-readable report (what ``tinyml diagnose`` prints)."""
        lines = [f"model: {self.source}"]
        for a in self.attempts:
            status = "ok" if a.ok else "FAILED"
            lines.append(
                f"  convert with {a.ops_set}: {status}" + (f" ({a.message})" if a.message else "")
            )
        if self.model_bytes is not None:
            counts = ", ".join(f"{op} x{n}" for op, n in sorted(self.op_counts.items()))
            lines.append(
                f"  .tflite: {len(self.model_bytes):,} bytes, {self.subgraphs} subgraph(s), "
                f"{len(self.ops)} ops: {counts}"
            )
        if self.tflm_runs:
            lines.append(f"  TFLM: runs, smallest arena {self.arena_bytes:,} bytes")
        elif self.tflm_runs is False:
            lines.append("  TFLM: does NOT run it")
        issues = self.issues
        lines.append("issues:" if issues else "issues: none, ready for TFLM")
        lines += [f"  - {i}" for i in issues]
        lines += [f"  - static check: {s}" for s in self.static_issues if s not in issues]
        if self.resolver_lines:
            lines.append("op resolver (paste into the firmware):")
            lines += [f"  {line}" for line in self.resolver_lines]
        return "\n".join(lines)


def _is_tflite(model: Any) -> bool:
    if isinstance(model, bytes | bytearray):
        return True
    return isinstance(model, str | os.PathLike) and Path(model).suffix == ".tflite"


def _without_opcodes(data: bytes, drop: set[int]) -> bytes:
    """A copy of the model whose operators using opcode indices ``drop`` are removed.

    Only used to let TFLM's kernel lookup go past an op it lacks and name the next one;
    the copy is never run for its results.
    """
    import flatbuffers

    obj = load_model_object(data)
    for sub in obj.subgraphs:
        sub.operators = [op for op in (sub.operators or []) if op.opcodeIndex not in drop]
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _opcode_for(data: bytes, name: str, already: set[int]) -> int | None:
    """The opcode index TFLM complained about (first in execution order, for CUSTOM)."""

    info = model_info(data)
    for sub in info.subgraphs:
        for op in sub.ops:
            if op.opcode_index in already:
                continue
            base = "CUSTOM" if op.name.startswith("CUSTOM:") else op.name
            if base == name:
                return op.opcode_index
    return None


def try_on_tflm(data: bytes, max_rounds: int = 20) -> dict[str, Any]:
    """Run ``data`` in TFLM; name every op whose kernel is missing (see module docstring).

    Returns ``runs``, ``arena_bytes``, ``missing`` (op names), ``failed_node`` (e.g.
    "FULLY_CONNECTED #0") and ``message`` (TFLM's words + the explanation).
    """

    report = measure_arena(data)
    result: dict[str, Any] = {
        "runs": report.runs,
        "arena_bytes": report.arena_bytes,
        "missing": [],
        "failed_node": "",
        "message": "" if report.runs else report.reason,
    }
    if report.runs:
        return result
    names = {o.index: o.name for o in model_info(data).opcodes}
    dropped: set[int] = set()
    log, scratch = report.log, data
    for _ in range(max_rounds):
        found = _MISSING_BUILTIN.search(log) or _MISSING_REGISTRATION.search(log)
        if not found:
            break
        index = _opcode_for(data, found.group(1), dropped)
        if index is None:
            break
        result["missing"].append(names.get(index, found.group(1)))
        dropped.add(index)
        scratch = _without_opcodes(data, dropped)
        retry = measure_arena(scratch)
        if retry.runs:
            break
        log = retry.log
    if not result["missing"]:
        node = _PREPARE_FAILED.search(report.log)
        if node:
            result["failed_node"] = f"{node.group(1)} #{node.group(2)} ({node.group(3)})"
        result["message"] = (
            " ".join(
                line.strip()
                for line in report.log.splitlines()
                if line.strip() and not _PREPARE_FAILED.search(line)
            )[:400]
            or report.reason
        )
    return result


def diagnose(
    model: Any,
    variant: str = "float32",
    representative_data=None,
    run_tflm: bool = True,
    batch_size: int | None = 1,
) -> Diagnosis:
    """Diagnose a model for TFLM; see the module docstring for the steps.

    Args:
        model: a Keras model, a tf.function with an input_signature, a SavedModel folder,
            a Keras .h5/.keras file, or a .tflite file (path or bytes: not re-converted).
        variant: how to convert non-.tflite models: "float32" (default), "dynamic_range",
            "float16" or "int8" (needs ``representative_data``).
        run_tflm: try the model in the TFLM runtime (a few child processes, ~1 s).
        batch_size: Keras models are converted with this input batch (1, as on a device);
            ``None`` keeps the model's own, usually dynamic, batch.
    """

    if _is_tflite(model):
        data = load_model_bytes(model)
        source = str(model) if not isinstance(model, bytes | bytearray) else ".tflite bytes"
        diagnosis = Diagnosis(source=source, model_bytes=data)
    else:
        if isinstance(model, str | os.PathLike):
            path = Path(model)
            if path.is_dir() and not (path / "saved_model.pb").exists():
                raise ModelFileError(  # said before TensorFlow is loaded (seconds)
                    f"{path} is a folder but not a SavedModel (no saved_model.pb in it). Give a "
                    ".tflite file, a SavedModel folder or a Keras .h5/.keras file."
                )
        source = getattr(model, "name", None) or str(model)
        data, attempts = convert_for_diagnosis(model, variant, representative_data, batch_size)
        diagnosis = Diagnosis(source=f"{source} ({variant})", attempts=attempts, model_bytes=data)
        failed = [a for a in attempts if not a.ok]
        if failed:
            diagnosis.converter_select_ops = _ops_from_message(failed[0].message, "TF Select ops:")
            diagnosis.converter_custom_ops = _ops_from_message(
                " | ".join(a.message for a in failed), "Custom ops:"
            )
    if data is None:
        return diagnosis

    info = model_info(data)
    diagnosis.subgraphs = len(info.subgraphs)
    for sub in info.subgraphs:
        for op in sub.ops:
            diagnosis.ops.append(op.name)
            if op.name.startswith("CUSTOM:Flex"):
                diagnosis.flex_ops.append(op.name.removeprefix("CUSTOM:Flex"))
            elif op.name.startswith("CUSTOM:"):
                diagnosis.custom_ops.append(op.name.removeprefix("CUSTOM:"))
            if op.name == "TRANSPOSE":
                src, dst = sub.tensors[op.inputs[0]], sub.tensors[op.outputs[0]]
                diagnosis.transposes.append(
                    TransposeInfo(op.index, tuple(src.shape), tuple(dst.shape), dst.nbytes)
                )
    diagnosis.flex_ops = sorted(set(diagnosis.flex_ops))
    diagnosis.custom_ops = sorted(set(diagnosis.custom_ops))
    support = classify_tflm_support(data)
    diagnosis.static_issues = support.summary().splitlines() if not support.ok else []
    if run_tflm:
        tried = try_on_tflm(data)
        diagnosis.tflm_runs = tried["runs"]
        diagnosis.arena_bytes = tried["arena_bytes"]
        diagnosis.tflm_missing_ops = tried["missing"]
        diagnosis.tflm_failed_node = tried["failed_node"]
        diagnosis.tflm_message = tried["message"]
    diagnosis.resolver_lines = resolver_lines(diagnosis.ops, diagnosis.tflm_missing_ops)
    return diagnosis
