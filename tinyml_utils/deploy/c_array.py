"""A .tflite model as a C array: what ``xxd -i model.tflite > model_data.cc`` does, done right.

The TensorFlow Lite Micro guide tells you to turn the model file into a C array with
``xxd -i`` and compile it into the firmware. :func:`export_c_array` writes the same array as a
header/source pair, with the details ``xxd`` leaves to you:

* ``const``: the array is read-only, so the compiler places it in flash (``.rodata``) next to
  the program instead of copying it into the (much smaller) RAM at start-up. Without
  ``const`` a 100 KB model would need 100 KB of RAM on top of the tensor arena.
* ``alignas(16)``: the flatbuffer lays out its weight and bias buffers aligned *relative to the
  start of the file* (up to 16 bytes). TFLM reads them in place (an ``int32`` bias array is
  used through a pointer, never copied), so the array must start on a 16-byte boundary or
  those reads are unaligned: slow on a Cortex-M4, a HardFault on a Cortex-M0, and rejected
  outright by TFLM for some buffers. ``xxd`` output has no alignment at all.
* the length as a ``const unsigned int`` (``xxd`` names it ``<file>_len``) and a C identifier
  derived from the model's name (``g_<name>_model``), declared in the header so other files
  can use it;
* a comment block that says what is inside: the ops (exactly what a ``MicroMutableOpResolver``
  must register), the input/output shapes and quantization (how to fill the input tensor and
  read the output), and the tensor arena TFLM measured for this model (see
  :func:`tinyml_utils.tflite.tflm.measure_arena`).

The header is valid C (C11) and C++ (C++11); the source is ``.cc`` by default (Arduino and
TFLM projects are C++) or ``.c``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tinyml_utils.core.errors import DataError
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes

#: C and C++ keywords a derived identifier must not equal.
_RESERVED = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while bool class delete new this true false namespace template
    alignas alignof""".split()
)


def c_identifier(name: str) -> str:
    """A valid, readable C identifier from a model name: ``"KWS model-v2"`` -> ``kws_model_v2``.

    Lower-case, every run of other characters becomes ``_``, a leading digit gets ``m_`` in
    front, keywords get a ``_model`` suffix. Raises DataError if nothing usable is left.
    """
    ident = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    if not ident:
        raise DataError(
            f"cannot derive a C identifier from the name {name!r}: give a name with letters, "
            "e.g. name='carsensor'."
        )
    if ident[0].isdigit():
        ident = "m_" + ident
    if ident in _RESERVED:
        ident += "_model"
    return ident


def c_comment_text(text: str) -> str:
    """``text`` safe inside a C ``/* */`` comment line: no ``*/``, ``/*`` or control chars."""
    text = re.sub(r"[\x00-\x1f\x7f]", " ", str(text))
    return text.replace("*/", "* /").replace("/*", "/ *")


def _shape_text(shape) -> str:
    return "x".join(str(int(d)) for d in shape) or "scalar"


def model_summary_lines(model: ModelLike) -> list[str]:
    """Human-readable lines: ops (with counts), inputs/outputs with shape, dtype, quantization."""
    from tinyml_utils.tflite.reader import model_info

    info = model_info(model)
    lines = []
    counts = info.op_counts()
    lines.append(
        "ops ("
        + str(len(counts))
        + " kinds, "
        + str(len(info.ops))
        + " nodes): "
        + ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.items())
    )
    for label, indices in (("input", info.inputs), ("output", info.outputs)):
        for i in indices:
            t = info.tensor(i)
            quant = t.quantization_text() or "not quantized"
            lines.append(f"{label} {t.index}: {_shape_text(t.shape)} {t.dtype}, {quant}")
    return lines


@dataclass
class CArrayExport:
    """What :func:`export_c_array` wrote.

    Attributes:
        header, source: the two files.
        identifier: the array's C name (``g_<name>_model``); ``<identifier>_len`` is its length.
        length: bytes of the model (== the .tflite file size).
        arena_bytes: the TFLM arena written in the comment (None if not measured).
        summary: the comment's lines (ops, input/output, arena).
    """

    header: Path
    source: Path
    identifier: str
    length: int
    arena_bytes: int | None
    summary: list[str] = field(default_factory=list)


def _measured_arena(data: bytes) -> tuple[int | None, str]:
    try:
        from tinyml_utils.tflite.tflm import measure_arena
    except ImportError:  # analyze.tflm not available: say so in the comment
        return None, "tensor arena: not measured (tinyml_utils.tflite.tflm unavailable)"
    report = measure_arena(data)
    if report.arena_bytes is None:
        return None, f"tensor arena: TFLM cannot run this model: {report.reason}"
    return report.arena_bytes, (
        f"tensor arena: {report.arena_bytes} bytes measured in the TFLM runtime "
        "(smallest arena that allocates and invokes; add a margin in firmware)"
    )


def render_c_array(
    data: bytes,
    identifier: str,
    summary: list[str],
    header_name: str,
    bytes_per_line: int = 12,
) -> tuple[str, str]:
    """The header and source text for ``data`` (no files written)."""
    guard = f"{identifier.upper()}_H_"
    comment = "\n".join(f" * {c_comment_text(line)}" for line in summary)
    header = f"""/*
 * {identifier}: a TensorFlow Lite model as a C array (generated by tinyml_utils.deploy.c_array).
{comment}
 *
 * const        -> the array stays in flash (.rodata), it is not copied into RAM.
 * alignas(16)  -> the flatbuffer's weight/bias buffers inside it are aligned as TFLM expects.
 */
#ifndef {guard}
#define {guard}

#ifdef __cplusplus
extern "C" {{
#endif

extern const unsigned char {identifier}[];
extern const unsigned int {identifier}_len;

#ifdef __cplusplus
}}
#endif

#endif  /* {guard} */
"""
    rows = []
    for start in range(0, len(data), bytes_per_line):
        chunk = data[start : start + bytes_per_line]
        rows.append("    " + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    body = "\n".join(rows)
    source = f"""/* Generated by tinyml_utils.deploy.c_array: do not edit. See {header_name}. */
#include "{header_name}"

#ifdef __cplusplus
#define TINYML_ALIGNAS16 alignas(16)
#else
#include <stdalign.h>
#define TINYML_ALIGNAS16 alignas(16)
#endif

#ifdef __cplusplus
extern "C" {{
#endif

TINYML_ALIGNAS16 const unsigned char {identifier}[] = {{
{body}
}};
const unsigned int {identifier}_len = {len(data)};

#ifdef __cplusplus
}}
#endif
"""
    return header, source


def export_c_array(
    model: ModelLike,
    out_dir: str | Path,
    name: str = "model",
    arena_bytes: int | None | str = "measure",
    source_ext: str = ".cc",
) -> CArrayExport:
    """Write ``<name>_model_data.h`` and ``<name>_model_data<source_ext>`` into ``out_dir``.

    Args:
        model: .tflite bytes or path.
        out_dir: folder for the two files (created).
        name: model name; the C identifier is ``g_<c_identifier(name)>_model``.
        arena_bytes: ``"measure"`` runs :func:`~tinyml_utils.tflite.tflm.measure_arena`;
            an int is written as given; None leaves the arena out.
        source_ext: ``".cc"`` (C++, Arduino/TFLM) or ``".c"`` (C11).
    """
    if source_ext not in (".cc", ".c", ".cpp"):
        raise DataError(f"source_ext must be '.cc', '.cpp' or '.c', got {source_ext!r}.")
    data = load_model_bytes(model)
    base = c_identifier(name)
    identifier = f"g_{base}_model"
    summary = [f"model: {name}, {len(data)} bytes"] + model_summary_lines(data)
    if arena_bytes == "measure":
        arena, line = _measured_arena(data)
        summary.append(line)
    elif arena_bytes is None:
        arena = None
    else:
        arena = int(arena_bytes)
        summary.append(f"tensor arena: {arena} bytes")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header_path = out / f"{base}_model_data.h"
    source_path = out / f"{base}_model_data{source_ext}"
    header, source = render_c_array(data, identifier, summary, header_path.name)
    header_path.write_text(header)
    source_path.write_text(source)
    return CArrayExport(header_path, source_path, identifier, len(data), arena, summary)


@dataclass
class RoundTrip:
    """What a compiled export gives back: the array's bytes and its address modulo 16."""

    data: bytes
    address_mod_16: int


def compile_round_trip(export: CArrayExport, work_dir: str | Path) -> RoundTrip:
    """Compile ``export`` into a tiny host program that writes the array back to a file.

    The program is C or C++ after the export's source (``gcc -std=c11`` / ``g++ -std=c++11``,
    ``-Wall -Wextra -Werror``). ``RoundTrip.data`` must equal the .tflite file and
    ``address_mod_16`` must be 0 (``alignas(16)``).
    """
    import subprocess

    from tinyml_utils.deploy.toolchains import require_tools

    cpp = export.source.suffix in (".cc", ".cpp")
    compiler, std = ("g++", "-std=c++11") if cpp else ("gcc", "-std=c11")
    require_tools(compiler)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    main = work / ("round_trip_main.cc" if cpp else "round_trip_main.c")
    name = export.identifier
    main.write_text(
        f'#include <stdio.h>\n#include <stdint.h>\n#include "{export.header.name}"\n'
        "int main(int argc, char **argv) {\n"
        '  FILE *f = fopen(argv[1], "wb");\n'
        "  (void)argc;\n"
        f"  fwrite({name}, 1, {name}_len, f);\n"
        "  fclose(f);\n"
        f'  printf("%u\\n", (unsigned)((uintptr_t){name} % 16u));\n'
        "  return 0;\n}\n"
    )
    exe = work / "round_trip"
    include = f"-I{export.header.parent}"
    cmd = [compiler, std, "-Wall", "-Wextra", "-Werror", include, str(main), str(export.source)]
    subprocess.run([*cmd, "-o", str(exe)], check=True)
    back = work / "round_trip.tflite"
    out = subprocess.run([str(exe), str(back)], check=True, capture_output=True, text=True)
    return RoundTrip(back.read_bytes(), int(out.stdout.strip()))
