"""Issue 12: every command that loads a model checks it first and runs native code in a child.

Each test reproduces a numbered finding of issue 12 through the ``tinyml`` command itself
(a subprocess, so a segfault is an exit code, not a dead test session).
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys

import pytest
from conftest import app_data_dir
from robust_helpers import CARSENSOR, MUSIC, cli, flip_5433, mutant, named_error, tinyml

from tinyml_utils.core.paths import repo_root
from tinyml_utils.tflite.reader import model_info

# --------------------------------------------------------------------------- finding 1


@pytest.mark.parametrize("runtime", ["tflm", pytest.param("tflite", marks=pytest.mark.slow)])
def test_evaluate_checks_the_model_like_diagnose(tmp_path, runtime):
    """Finding 1: the issue's mutant segfaulted `evaluate --runtime tflm` (exit 139)."""
    data = app_data_dir("music_genre")
    bad = mutant(tmp_path, MUSIC, flip_5433)
    params = MUSIC.parent / "preprocessing.json"
    result = tinyml("evaluate", "--runtime", runtime, "--params", params, "--data", data, bad)
    named_error(result, "refers to tensor 32774", bad.name)


def test_evaluate_truncated_model_is_a_named_error(tmp_path):
    data = app_data_dir("music_genre")
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(MUSIC.read_bytes()[:5000])
    params = MUSIC.parent / "preprocessing.json"
    result = cli("evaluate", "--runtime", "tflm", "--params", params, "--data", data, bad)
    named_error(result, "cut.tflite")


def test_native_crash_in_the_runtime_is_contained():
    """A runtime that dies by a signal becomes a ModelFileError, the caller survives."""
    from tinyml_utils.core.errors import ModelFileError
    from tinyml_utils.tflite.guard import run_isolated

    with pytest.raises(ModelFileError, match=r"a test: the runtime crashed \(SIGSEGV\)"):
        run_isolated("ctypes:string_at", 0, what="a test")  # reads address 0


# --------------------------------------------------------------------------- finding 4


def test_input_dimension_out_of_bounds_is_rejected(tmp_path):
    """Finding 4: input dimensions of 2^30 or -5 passed benchmark and export with exit 0."""
    shape = model_info(CARSENSOR).tensor(model_info(CARSENSOR).inputs[0]).shape
    # the input's shape vector in the file: its length, then the dimensions (batch first)
    at = CARSENSOR.read_bytes().find(struct.pack(f"<{len(shape) + 1}i", len(shape), *shape))
    assert at > 0
    for value in (1 << 30, -5):
        bad = mutant(
            tmp_path,
            CARSENSOR,
            lambda d, v=value: d.__setitem__(slice(at + 8, at + 12), struct.pack("<i", v)),
        )
        result = cli("benchmark", bad, "--no-plots", "--runs", "2", "--out", tmp_path / "b")
        named_error(result, "dimension", str(value))
        result = cli("export", bad, "--out", tmp_path / "e", "--no-arena")
        named_error(result, "dimension", str(value))


def test_huge_file_is_rejected_before_it_is_read(tmp_path):
    """Finding 4: a 2 GB file was read whole into memory before it was rejected."""
    big = tmp_path / "big.tflite"
    with open(big, "wb") as f:
        f.write(CARSENSOR.read_bytes())
        f.truncate(2 << 30)  # sparse: costs no disk
    result = cli("diagnose", big)
    named_error(result, "big.tflite", "MB")

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = dict(os.environ, PYTHONPATH=str(repo_root()))
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tinyml_utils.tflite.interpreters import load_model_bytes;"
            f"load_model_bytes({str(big)!r})",
        ],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limited,
        timeout=120,
    )
    assert "MemoryError" not in r.stderr and "ModelFileError" in r.stderr, r.stderr[-2000:]


def test_a_directory_given_as_the_model_is_named(tmp_path):
    """Finding 6: a directory given as the model said "no such file"."""
    for args in (["diagnose"], ["export", "--out", tmp_path / "e"], ["benchmark", "--no-plots"]):
        result = cli(*args, tmp_path)
        named_error(result, "folder")
        assert "no such file" not in result.stderr


@pytest.mark.slow
def test_export_warns_for_a_model_tflm_cannot_run(tmp_path):
    """Finding 6: a C array was exported with exit 0 and no word for a model TFLM refuses."""
    dynamic = tmp_path / "dynamic.tflite"
    dynamic.write_bytes(_dynamic_range_model())
    result = cli("export", dynamic, "--out", tmp_path / "e")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning" in (result.stdout + result.stderr).lower()
    assert "tflm" in (result.stdout + result.stderr).lower()


def _dynamic_range_model() -> bytes:
    import numpy as np

    from tinyml_utils.core.tf import tf

    model = tf.keras.Sequential([tf.keras.Input((64,)), tf.keras.layers.Dense(64)])
    model.build((None, 64))  # > 1,024 weights: the converter quantizes them (hybrid FC)
    model.set_weights([np.ones((64, 64), np.float32), np.zeros(64, np.float32)])
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return conv.convert()
