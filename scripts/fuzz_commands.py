"""Fuzz the ``tinyml`` commands with mutants of the committed models and a bad-data corpus.

    python scripts/fuzz_commands.py                       # >= 1,000 mutants per command (slow)
    python scripts/fuzz_commands.py --mutants 3 --quick   # the CI sample (a few seconds)

Every case runs one ``tinyml`` command (``tinyml_utils.cli.main(argv)``) in a forked child
process of its own, in its own process group, with a memory limit (RLIMIT_AS) and a wall
time limit; the fork starts from a parent that has already imported the package, so a case
costs what the command costs, not a Python start. The outcome of each case is one of:

- ``ok``: exit 0;  ``error``: exit 2 with a one-line ``tinyml <cmd>: error: ...`` message;
- ``traceback``: a Python traceback on stderr; ``crash``: killed by a signal (SIGSEGV ...)
  or an exit code the command never uses; ``hang``: over the time limit (the whole process
  group is killed); ``memory``: a MemoryError (the memory limit was reached).

The commands: ``diagnose``, ``export`` (C array, ``--codegen`` and ``--sketch`` in turn),
``benchmark`` (writing every file, accuracy on a small .npz), ``evaluate`` with
``--runtime tflite`` and ``--runtime tflm`` (on the GTZAN features CSV: the music_genre
models). Mutants: bit flips, random bytes, 32-bit words set to boundary values (0, -1,
-5, 2^30 ...), zeroed runs, truncation, inserted and duplicated chunks; half of the edits
aim at the flatbuffer's structure (outside the large weight buffers). Each mutant is seeded
by (command, index), so any case can be replayed with ``--replay COMMAND:INDEX``.

The bad-data corpus is a list of hand-made broken inputs (NaN/inf sensor CSV, a CSV cut
mid-line, corrupt and truncated .csv.gz, features CSV with inf, WAV clips too short/long,
empty/cut/NaN .npz, out-of-range labels, a missing column, an unknown dataset name), each
with the outcome it must have (a named error, or a warning on stdout/stderr).

Counts go to ``benchmarks/fuzz.csv`` and ``benchmarks/fuzz.md`` (``--out``); the files are
rewritten as the campaign goes, so an interrupted run still records the count it reached.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import random
import re
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMANDS = ("diagnose", "export", "benchmark", "evaluate_tflite", "evaluate_tflm")
OUTCOMES = ("ok", "error", "traceback", "crash", "hang", "memory")
BAD = ("traceback", "crash", "hang", "memory")
INTERESTING = (0, 1, -1, -5, 255, 0x7FFF, 0xFFFF, 1 << 24, 1 << 30, 0x7FFFFFFF, -(1 << 31))


# --------------------------------------------------------------------------- one case


@dataclass
class Case:
    command: str
    index: int
    argv: list[str]
    mutation: str = ""
    expect: str = ""  # bad-data corpus: "error" / "warn" + the words that must appear
    words: tuple[str, ...] = ()


@dataclass
class Outcome:
    outcome: str
    rc: int
    seconds: float
    max_rss_mb: float
    last_line: str = ""
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _child(argv: list[str], out_path: str, err_path: str, mem_bytes: int, cwd: str) -> None:
    """In the forked child: limits, redirections, then the command. Never returns."""
    try:
        os.setpgid(0, 0)
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
        os.chdir(cwd)
        # as a fresh `python -m tinyml_utils.cli`: warnings printed (not kept by a test runner)
        warnings.resetwarnings()
        warnings.simplefilter("default")
        warnings.showwarning = _print_warning
        from tinyml_utils.cli import main

        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code if isinstance(exc.code, int) else 2
    except MemoryError:
        traceback.print_exc()
        os._exit(99)
    except BaseException:  # what `python -m tinyml_utils.cli` would print
        traceback.print_exc()
        os._exit(70)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(int(rc or 0))


@dataclass
class Running:
    case: Case
    pid: int
    t0: float
    cwd: Path


def start_case(case: Case, mem_mb: int, work: Path, data: bytes | None = None) -> Running:
    """Fork the case's child in its own folder (with its mutant, if any); do not wait."""
    cwd = work / f"{case.command}_{case.index}"
    cwd.mkdir(parents=True, exist_ok=True)
    if data is not None:
        (cwd / "mutant.tflite").write_bytes(data)
    pid = os.fork()
    if pid == 0:
        _child(case.argv, str(cwd / "stdout.txt"), str(cwd / "stderr.txt"), mem_mb << 20, str(cwd))
    return Running(case, pid, time.monotonic(), cwd)


def finish_case(run: Running, time_limit: float, block: bool) -> Outcome | None:
    """The case's outcome once it ended (or was killed at the time limit); else None."""
    hang = False
    done, status, usage = os.wait4(run.pid, 0 if block else os.WNOHANG)
    if not done:
        if time.monotonic() - run.t0 <= time_limit:
            return None
        hang = True
        _kill_group(run.pid)
        _, status, usage = os.wait4(run.pid, 0)
    seconds = time.monotonic() - run.t0
    _kill_group(run.pid)  # grandchildren left behind (a runtime child) go too
    stdout = (run.cwd / "stdout.txt").read_text(errors="replace")
    stderr = (run.cwd / "stderr.txt").read_text(errors="replace")
    shutil.rmtree(run.cwd, ignore_errors=True)
    rc = os.waitstatus_to_exitcode(status)
    if hang:
        outcome = "hang"
    elif rc < 0 or rc > 2 and rc not in (70, 99, 130):
        outcome = "crash"
    elif rc == 99 or "MemoryError" in stderr:
        outcome = "memory"
    elif "Traceback (most recent call last)" in stderr or rc == 70:
        outcome = "traceback"
    elif rc == 0:
        outcome = "ok"
    else:  # 2: a named error; 1: the command's own "no" (diagnose: cannot run on an MCU)
        outcome = "error"
    lines = [x for x in (stderr.strip().splitlines() or stdout.strip().splitlines()) if x]
    lines = [x.replace(str(run.cwd.parent), "<tmp>") for x in lines]  # no absolute paths
    return Outcome(
        outcome,
        rc,
        seconds,
        usage.ru_maxrss / 1024,
        lines[-1][:300] if lines else "",
        stdout,
        stderr,
    )


def run_case(
    case: Case, time_limit: float, mem_mb: int, work: Path, data: bytes | None = None
) -> Outcome:
    run = start_case(case, mem_mb, work, data)
    while (res := finish_case(run, time_limit, block=False)) is None:
        time.sleep(0.02)
    return res


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------- mutants


def _structure_offsets(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the model outside its large buffers (the flatbuffer's structure)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s

    big = []
    m = s.Model.GetRootAsModel(data, 0)
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        n = b.DataLength()
        if n >= 64:
            # the vector's data starts 4 bytes after its length field
            start = b._tab.Vector(b._tab.Offset(4))
            big.append((int(start), int(start + n)))
    big.sort()
    ranges, pos = [], 0
    for a, b in big:
        if a > pos:
            ranges.append((pos, a))
        pos = max(pos, b)
    ranges.append((pos, len(data)))
    return [r for r in ranges if r[1] > r[0]]


def mutate(data: bytes, rng: random.Random, structure: list[tuple[int, int]]) -> tuple[bytes, str]:
    d = bytearray(data)

    def offset(width: int = 1) -> int:
        if structure and rng.random() < 0.5:
            a, b = rng.choice(structure)
            return rng.randrange(a, max(a + 1, b - width + 1))
        return rng.randrange(0, max(1, len(d) - width + 1))

    kind = rng.choice(
        ("bitflip", "bitflip", "bytes", "word", "word", "zero", "truncate", "insert", "duplicate")
    )
    if kind == "bitflip":
        o, bit = offset(), rng.randrange(8)
        d[o] ^= 1 << bit
        return bytes(d), f"bitflip byte {o} bit {bit}"
    if kind == "bytes":
        o = offset(4)
        n = rng.randint(1, 4)
        d[o : o + n] = bytes(rng.randrange(256) for _ in range(n))
        return bytes(d), f"{n} random bytes at {o}"
    if kind == "word":
        o = offset(4) & ~3
        v = rng.choice(INTERESTING)
        d[o : o + 4] = struct.pack("<i", v if v < (1 << 31) else v - (1 << 32))
        return bytes(d), f"int32 at {o} = {v}"
    if kind == "zero":
        o = offset()
        n = rng.randint(1, 64)
        d[o : o + n] = bytes(len(d[o : o + n]))
        return bytes(d), f"{n} zero bytes at {o}"
    if kind == "truncate":
        n = rng.randrange(1, len(d))
        return bytes(d[:n]), f"truncated to {n} bytes"
    if kind == "insert":
        o = offset()
        n = rng.randint(1, 16)
        return bytes(d[:o] + bytes(rng.randrange(256) for _ in range(n)) + d[o:]), (
            f"{n} bytes inserted at {o}"
        )
    o = offset()
    n = rng.randint(4, 64)
    return bytes(d[:o] + d[o : o + n] + d[o:]), f"{n} bytes duplicated at {o}"


# --------------------------------------------------------------------------- commands


@dataclass
class Setup:
    models: list[Path]  # every committed model (diagnose, export, benchmark)
    eval_models: list[Path]  # models evaluate can read data for (music_genre)
    npz: dict[Path, Path]
    structure: dict[Path, list[tuple[int, int]]]
    data_dir: Path
    work: Path


def _input_spec(model: Path) -> tuple[tuple[int, ...], int]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model))
    d = interp.get_input_details()[0]
    o = interp.get_output_details()[0]
    return tuple(int(s) for s in d["shape"][1:]), int(np.prod(o["shape"][1:]))


def make_setup(work: Path, data_dir: Path) -> Setup:
    models = sorted((ROOT / "models").glob("*/model_*.tflite"))
    npz, structure = {}, {}
    for m in models:
        shape, n_out = _input_spec(m)
        rng = np.random.default_rng(0)
        path = work / "data" / f"{m.parent.name}_{m.stem}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            x=rng.normal(size=(8, *shape)).astype(np.float32),
            y=rng.integers(0, max(2, n_out), 8),
        )
        npz[m] = path
        structure[m] = _structure_offsets(m.read_bytes())
    eval_models = [m for m in models if m.parent.name == "music_genre"]
    return Setup(models, eval_models, npz, structure, data_dir, work)


def mutant_case(setup: Setup, command: str, index: int, seed: int) -> tuple[Case, bytes]:
    rng = random.Random(f"{seed}:{command}:{index}")
    pool = setup.eval_models if command.startswith("evaluate") else setup.models
    base = rng.choice(pool)
    data, how = mutate(base.read_bytes(), rng, setup.structure[base])
    path = "mutant.tflite"  # written into the case's own folder
    app = base.parent.name
    rel = f"{app}/{base.name}"
    if command == "diagnose":
        argv = ["diagnose", path]
    elif command == "export":
        mode = ("", "--codegen", "--sketch")[index % 3]
        argv = ["export", path, "--name", app, "--out", "out"]
        if mode:
            argv.append(mode)
        if mode == "--sketch":
            argv += ["--preprocessing", str(base.parent / "preprocessing.json"), "--force"]
    elif command == "benchmark":
        argv = [
            "benchmark",
            path,
            "--data",
            str(setup.npz[base]),
            "--runs",
            "3",
            "--warmup",
            "1",
            "--no-plots",
            "--out",
            "out",
        ]
    else:
        argv = [
            "evaluate",
            "--runtime",
            command.split("_")[1],
            "--all",
            "--params",
            str(base.parent / "preprocessing.json"),
            "--data",
            str(setup.data_dir / "music_genre"),
            path,
        ]
    return Case(command, index, argv, f"{rel}: {how}"), data


# --------------------------------------------------------------------------- bad data


def _wav(path: Path, seconds: float, rate: int = 16000) -> None:
    n = int(seconds * rate)
    samples = (np.sin(np.arange(n) / 5.0) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def _motionsense_copy(src: Path, dest: Path, subjects: tuple[int, ...]) -> Path:
    """A small MotionSense folder (a few subjects, outside the repository)."""
    trials_src = next(p for p in src.rglob("A_DeviceMotion_data") if p.is_dir())
    trials = dest / "A_DeviceMotion_data"
    for trial in sorted(p for p in trials_src.iterdir() if p.is_dir()):
        for s in subjects:
            for f in trial.glob(f"sub_{s}.csv*"):
                (trials / trial.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(f, trials / trial.name / f.name)
    info = next(src.rglob("data_subjects_info.csv"))
    shutil.copy(info, dest / info.name)
    return dest


def _first_csv(folder: Path) -> Path:
    return sorted(folder.rglob("sub_*.csv*"))[0]


def _read_text(path: Path) -> str:
    return (
        gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else (path.read_text())
    )


def _write_plain(path: Path, text: str) -> Path:
    """Replace a (possibly gzipped) recording by a plain .csv with ``text``."""
    path.unlink()
    new = path.with_name(path.name.removesuffix(".gz"))
    new.write_text(text)
    return new


def bad_data_cases(setup: Setup) -> list[Case]:
    """(case, expectation) pairs; each builds its broken input under setup.work/bad."""
    root = setup.work / "bad"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    cases: list[Case] = []
    ms_model = ROOT / "models" / "motionsense" / "model_int8.tflite"
    ms_src = setup.data_dir / "motionsense"

    def motionsense(name: str, edit) -> Path:
        folder = _motionsense_copy(ms_src, root / name, (1, 2))
        target = _first_csv(folder)
        words = edit(target)
        return folder, words

    def nan_rows(target: Path, token: str) -> tuple[str, ...]:
        lines = _read_text(target).splitlines()
        cells = lines[5].split(",")
        cells[3] = token
        lines[5] = ",".join(cells)
        new = _write_plain(target, "\n".join(lines) + "\n")
        return (new.name, "line 6")

    def cut(target: Path) -> tuple[str, ...]:
        text = _read_text(target)
        new = _write_plain(target, text[: len(text) // 2].rsplit(",", 1)[0])
        return (new.name,)

    def corrupt_gz(target: Path) -> tuple[str, ...]:
        raw = gzip.compress(_read_text(target).encode())
        target.unlink()
        gz = target.with_name(target.name.removesuffix(".gz") + ".gz")
        bad = bytearray(raw)
        bad[len(bad) // 2] ^= 0xFF
        gz.write_bytes(bytes(bad))
        return (gz.name,)

    def truncated_gz(target: Path) -> tuple[str, ...]:
        raw = gzip.compress(_read_text(target).encode())
        target.unlink()
        gz = target.with_name(target.name.removesuffix(".gz") + ".gz")
        gz.write_bytes(raw[: len(raw) // 2])
        return (gz.name,)

    ms = ["evaluate", "--all", str(ms_model), "--data"]
    for name, edit, expect in (
        ("nan", lambda t: nan_rows(t, "nan"), "error"),
        ("inf", lambda t: nan_rows(t, "inf"), "error"),
        ("cut_mid_line", cut, "error"),
        ("corrupt_gz", corrupt_gz, "error"),
        ("truncated_gz", truncated_gz, "error"),
    ):
        folder, words = motionsense(name, edit)
        cases.append(
            Case("bad_data", len(cases), [*ms, str(folder)], f"motionsense {name}", expect, words)
        )
        cases.append(
            Case(
                "bad_data",
                len(cases),
                ["data", "check", "motionsense", "--data-dir", str(folder)],
                f"data check motionsense {name}",
                expect,
                words,
            )
        )
    # a subjects file without a column
    folder = _motionsense_copy(ms_src, root / "missing_column", (1, 2))
    info = folder / "data_subjects_info.csv"
    text = info.read_text().splitlines()
    header = text[0].split(",")
    drop = header.index("weight") if "weight" in header else len(header) - 1
    info.write_text(
        "\n".join(",".join(c for i, c in enumerate(r.split(",")) if i != drop) for r in text) + "\n"
    )
    cases.append(
        Case(
            "bad_data",
            len(cases),
            ["data", "check", "motionsense", "--data-dir", str(folder)],
            "data check: subjects file lacks a column",
            "warn",
            (info.name, header[drop].strip()),
        )
    )
    folder = _motionsense_copy(ms_src, root / "missing_sensor_column", (1,))
    target = _first_csv(folder)
    lines = _read_text(target).splitlines()
    rows = [",".join(r.split(",")[:-2]) for r in lines]
    _write_plain(target, "\n".join(rows) + "\n")
    cases.append(
        Case(
            "bad_data",
            len(cases),
            ["data", "check", "motionsense", "--data-dir", str(folder)],
            "data check: recording lacks columns",
            "error",
            (target.name.removesuffix(".gz"),),
        )
    )
    # unknown dataset names
    for action in ("describe", "check", "download"):
        cases.append(
            Case(
                "bad_data",
                len(cases),
                ["data", action, "no_such_set"],
                f"data {action} unknown name",
                "error",
                ("no_such_set",),
            )
        )
    # GTZAN features CSV with inf / a short row
    feats_src = setup.data_dir / "music_genre" / "features_30_sec.csv"
    mg_model = ROOT / "models" / "music_genre" / "model_int8.tflite"
    mg_params = ROOT / "models" / "music_genre" / "preprocessing.json"
    for name, edit in (
        ("inf", lambda cells: cells.__setitem__(3, "inf")),
        ("nan", lambda cells: cells.__setitem__(5, "nan")),
        ("short_row", lambda cells: cells.__delitem__(slice(10, None))),
    ):
        folder = root / f"features_{name}"
        folder.mkdir()
        lines = feats_src.read_text().splitlines()
        cells = lines[7].split(",")
        edit(cells)
        lines[7] = ",".join(cells)
        (folder / feats_src.name).write_text("\n".join(lines) + "\n")
        track = cells[0].removesuffix(".wav")  # the example's group: the file and row named
        cases.append(
            Case(
                "bad_data",
                len(cases),
                [
                    "evaluate",
                    "--all",
                    "--params",
                    str(mg_params),
                    "--data",
                    str(folder),
                    str(mg_model),
                ],
                f"features CSV {name}",
                "error",
                (feats_src.name, track),
            )
        )
    # WAV clips too short / too long (keyword spotting)
    kws_src = setup.data_dir / "keyword_spotting"
    kws_model = ROOT / "models" / "keyword_spotting" / "model_int8.tflite"
    for name, seconds in (("short", 0.2), ("long", 10.0)):
        folder = root / f"wav_{name}"
        words_dirs = [p for p in sorted(kws_src.rglob("*")) if p.is_dir() and any(p.glob("*.wav"))]
        for d in words_dirs[:40]:
            dest = folder / d.name
            dest.mkdir(parents=True, exist_ok=True)
            for f in sorted(d.glob("*.wav"))[:3]:
                shutil.copy(f, dest / f.name)
        victim = sorted(folder.rglob("*.wav"))[0]
        _wav(victim, seconds)
        cases.append(
            Case(
                "bad_data",
                len(cases),
                ["evaluate", "--all", str(kws_model), "--data", str(folder)],
                f"WAV clip {seconds} s",
                "warn",
                ("1 clip",),
            )
        )
    # npz for benchmark
    m = ROOT / "models" / "motionsense" / "model_int8.tflite"
    shape, n_out = _input_spec(m)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, *shape)).astype(np.float32)
    npzs = {
        "empty": {"x": np.zeros((0, *shape), np.float32), "y": np.zeros(0, np.int64)},
        "nan": {
            "x": np.where(np.arange(x.size).reshape(x.shape) == 3, np.nan, x),
            "y": np.arange(6) % n_out,
        },
        "labels_out_of_range": {"x": x, "y": np.array([0, 1, 2, 9, 0, 1])},
        "no_y": {"x": x},
    }

    def bench_on(data: Path) -> list[str]:
        """tinyml benchmark of the model on the labelled data file ``data``."""
        cmd = ["benchmark", str(m), "--data", str(data), "--runs", "2"]
        return [*cmd, "--no-plots", "--no-arena", "--out", "out"]

    for name, arrays in npzs.items():
        p = root / f"{name}.npz"
        np.savez(p, **arrays)
        cases.append(
            Case(
                "bad_data",
                len(cases),
                bench_on(p),
                f"npz {name}",
                "error",
                (p.name,),
            )
        )
    p = root / "cut.npz"
    np.savez(p, x=x, y=np.arange(6) % n_out)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    cases.append(
        Case(
            "bad_data",
            len(cases),
            bench_on(p),
            "npz cut short",
            "error",
            (p.name,),
        )
    )
    return cases


def judge_bad_data(case: Case, res: Outcome) -> bool:
    text = res.stdout + res.stderr
    if res.outcome in BAD:
        return False
    if case.expect == "error" and res.outcome != "error":
        return False
    if case.expect == "warn" and "warn" not in text.lower():
        return False
    return all(w.lower() in text.lower() for w in case.words)


# --------------------------------------------------------------------------- campaign


def write_counts(
    out: Path, counts: dict, cases_bad: list[dict], config: dict, corpus: list[dict]
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for command, c in counts.items():
        secs = c.pop("_seconds", [])
        rss = c.pop("_rss", [])
        row = {"command": command, "cases": sum(c.get(k, 0) for k in OUTCOMES)}
        row.update({k: c.get(k, 0) for k in OUTCOMES})
        row["median_s"] = round(float(np.median(secs)), 3) if secs else ""
        row["max_s"] = round(float(np.max(secs)), 2) if secs else ""
        row["max_rss_mb"] = round(float(np.max(rss)), 1) if rss else ""
        c["_seconds"], c["_rss"] = secs, rss
        rows.append(row)
    for row in rows:
        row["failed"] = sum(row[k] for k in BAD)
    if corpus:
        row = {"command": "bad_data_corpus", "cases": len(corpus)}
        row.update({k: sum(r["outcome"] == k for r in corpus) for k in OUTCOMES})
        row["failed"] = sum(not r["passed"] for r in corpus)
        rows.append(row)
    tmp = out.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(
            f,
            restval="",
            fieldnames=["command", "cases", *OUTCOMES, "failed", "median_s", "max_s", "max_rss_mb"],
        )
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out.with_suffix(".csv"))
    md = [
        "# Fuzzing the tinyml commands",
        "",
        "Written by `scripts/fuzz_commands.py` (see its docstring for the method).",
        "",
        "Configuration: " + ", ".join(f"{k} {v}" for k, v in config.items()),
        "",
        "| command | cases | ok | named error | traceback | crash | hang | memory | "
        "median s | max s | max RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["command"] == "bad_data_corpus":
            continue
        md.append(
            "| "
            + " | ".join(
                str(r[k])
                for k in (
                    "command",
                    "cases",
                    "ok",
                    "error",
                    "traceback",
                    "crash",
                    "hang",
                    "memory",
                    "median_s",
                    "max_s",
                    "max_rss_mb",
                )
            )
            + " |"
        )
    if corpus:
        md += [
            "",
            f"## Bad-data corpus: {sum(r['passed'] for r in corpus)} of {len(corpus)} "
            "cases behave as required",
            "",
            "| case | required | outcome | passed | last line |",
            "|---|---|---|---|---|",
        ]
        for r in corpus:
            md.append(
                f"| {r['case']} | {r['expect']} | {r['outcome']} | "
                f"{'yes' if r['passed'] else 'NO'} | {r['last'].replace('|', '/')} |"
            )
    md += ["", f"## Bad outcomes ({len(cases_bad)})", ""]
    if cases_bad:
        md += ["| command:index | mutation | outcome | last line |", "|---|---|---|---|"]
        for r in cases_bad[:200]:
            md.append(
                f"| {r['command']}:{r['index']} | {r['mutation']} | {r['outcome']} | "
                f"{r['last'].replace('|', '/')} |"
            )
    else:
        md.append("None.")
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(md) + "\n")
    os.replace(tmp, out.with_suffix(".md"))


def recheck(out: Path, setup: Setup, args, work: Path) -> int:
    """Replay every bad case of OUT.md (same seed) with the current code; append a section."""
    md = out.with_suffix(".md")
    text = md.read_text()
    cases = re.findall(r"^\| (\w+):(\d+) \|", text, flags=re.M)
    counts: dict[str, int] = {}
    lines = []
    for command, index in cases:
        case, data = mutant_case(setup, command, int(index), args.seed)
        res = run_case(case, args.time_limit, args.mem_mb, work, data)
        counts[res.outcome] = counts.get(res.outcome, 0) + 1
        last = res.last_line.replace("|", "/")
        lines.append(f"| {command}:{index} | {res.outcome} | {last} |")
        print(f"{command}:{index}: {res.outcome}: {res.last_line[:160]}", flush=True)
    marker = "\n## Bad cases re-run with the current code"
    text = text.split(marker)[0].rstrip() + "\n"
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none to re-run"
    code = f" ({args.code})" if args.code else ""
    text += (
        f"{marker}{code}\n\n{len(cases)} case(s) replayed (same mutants, same limits): "
        f"{summary}.\n\n| command:index | outcome now | last line |\n|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )
    md.write_text(text)
    return 1 if any(counts.get(k) for k in BAD) else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mutants", type=int, default=1000, help="mutants per command")
    p.add_argument("--commands", default=",".join(COMMANDS))
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds per case")
    p.add_argument("--mem-mb", type=int, default=6144, help="address-space limit per case")
    p.add_argument("--no-bad-data", action="store_true")
    p.add_argument(
        "--data-dir",
        default=os.environ.get("TINYML_DATA_DIR", ""),
        help="the real data (default $TINYML_DATA_DIR)",
    )
    p.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "fuzz"), help="writes OUT.csv and OUT.md"
    )
    p.add_argument("--jobs", type=int, default=1, help="cases run at the same time")
    p.add_argument("--deadline", default="", help="stop at this UTC time (HH:MM)")
    p.add_argument("--code", default="", help="what code was fuzzed (e.g. a commit), recorded")
    p.add_argument(
        "--recheck",
        action="store_true",
        help="re-run the bad cases listed in OUT.md with the current code; append the result",
    )
    p.add_argument("--replay", default="", help="COMMAND:INDEX: run one mutant, print it")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    data_dir = Path(args.data_dir) if args.data_dir else None
    commands = [c for c in args.commands.split(",") if c]
    if data_dir is None or not (data_dir / "music_genre").exists():
        commands = [c for c in commands if not c.startswith("evaluate")]
        args.no_bad_data = True
        print("no --data-dir/TINYML_DATA_DIR: evaluate and the bad-data corpus are skipped")
    work = Path(tempfile.mkdtemp(prefix="tinyml_fuzz_"))
    # import the commands once here: every forked case starts from this warm process
    from tinyml_utils.cli import COMMANDS as CLI_COMMANDS
    from tinyml_utils.cli import build_parser

    build_parser(load_commands=list(CLI_COMMANDS))
    setup = make_setup(work, data_dir or work)
    deadline = None
    if args.deadline:
        h, m = map(int, args.deadline.split(":"))
        now = time.gmtime()
        deadline = time.time() + ((h * 60 + m) - (now.tm_hour * 60 + now.tm_min)) * 60
    if args.replay:
        command, index = args.replay.split(":")
        case, data = mutant_case(setup, command, int(index), args.seed)
        Path("replay_mutant.tflite").write_bytes(data)
        res = run_case(case, args.time_limit, args.mem_mb, work, data)
        print(case.mutation, case.argv, res.outcome, res.rc, sep="\n")
        print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
        return 0
    if args.recheck:
        return recheck(Path(args.out), setup, args, work)
    config = {
        "mutants per command": args.mutants,
        "seed": args.seed,
        "time limit": f"{args.time_limit:g} s",
        "memory limit": f"{args.mem_mb} MB",
        "python": sys.version.split()[0],
        "jobs": args.jobs,
        **({"code": args.code} if args.code else {}),
    }
    counts = {c: {} for c in commands}
    bad_rows: list[dict] = []
    corpus: list[dict] = []
    out = Path(args.out)
    if not args.no_bad_data:
        for case in bad_data_cases(setup):
            res = run_case(case, args.time_limit, args.mem_mb, work)
            ok = judge_bad_data(case, res)
            corpus.append(
                {
                    "case": case.mutation,
                    "expect": case.expect,
                    "outcome": res.outcome,
                    "passed": ok,
                    "last": res.last_line,
                }
            )
            print(
                f"bad data: {case.mutation}: {res.outcome} {'ok' if ok else 'FAIL'}: "
                f"{res.last_line[:150]}",
                flush=True,
            )
    stopped = ""
    from tqdm.auto import tqdm

    bar = tqdm(
        total=args.mutants * len(commands),
        desc="fuzz",
        unit="case",
        disable=not sys.stderr.isatty(),
    )
    pending = ((i, c) for i in range(args.mutants) for c in commands)
    running: list[Running] = []
    done_per_index: dict[int, int] = {}
    finished = 0
    while True:
        while len(running) < args.jobs and not stopped:
            nxt = next(pending, None)
            if nxt is None:
                break
            index, command = nxt
            case, data = mutant_case(setup, command, index, args.seed)
            running.append(start_case(case, args.mem_mb, work, data))
        if not running:
            break
        for run in list(running):
            res = finish_case(run, args.time_limit, block=False)
            if res is None:
                continue
            running.remove(run)
            case = run.case
            c = counts[case.command]
            c[res.outcome] = c.get(res.outcome, 0) + 1
            c.setdefault("_seconds", []).append(res.seconds)
            c.setdefault("_rss", []).append(res.max_rss_mb)
            if res.outcome in BAD:
                bad_rows.append(
                    {
                        "command": case.command,
                        "index": case.index,
                        "mutation": case.mutation,
                        "outcome": res.outcome,
                        "last": res.last_line,
                    }
                )
                print(
                    f"{case.command}:{case.index} {case.mutation}: {res.outcome}: {res.last_line}",
                    flush=True,
                )
            bar.update()
            finished += 1
            done_per_index[case.index] = done_per_index.get(case.index, 0) + 1
            if finished % (20 * len(commands)) == 0:
                write_counts(out, counts, bad_rows, config, corpus)
                print(f"{finished} cases done", flush=True)
        if deadline and time.time() > deadline and not stopped:
            stopped = f"stopped at the deadline after {finished} cases"
        time.sleep(0.02)
    if stopped:
        config["note"] = stopped
    write_counts(out, counts, bad_rows, config, corpus)
    shutil.rmtree(work, ignore_errors=True)
    n_bad = len(bad_rows) + sum(not r["passed"] for r in corpus)
    print(
        f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}; "
        f"{len(bad_rows)} bad outcomes, {sum(not r['passed'] for r in corpus)} corpus failures"
    )
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
