"""Issue 12, finding 3 and the data half of 4: bad data is a named error (file and line).

The broken inputs are small copies of real files made in tmp_path (two MotionSense
subjects, the GTZAN features CSV) or synthetic .npz files.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import app_data_dir
from robust_helpers import cli, named_error

from tinyml_utils.core.errors import DataError
from tinyml_utils.core.paths import models_dir
from tinyml_utils.data.datasets import base

MOTIONSENSE = models_dir() / "motionsense" / "model_int8.tflite"
MUSIC = models_dir() / "music_genre" / "model_int8.tflite"


def small_motionsense(dest: Path, subjects=(1, 2), trials=("dws_1", "sit_5", "wlk_7")) -> Path:
    src = app_data_dir("motionsense")
    trials_src = src / "A_DeviceMotion_data"
    for trial in trials:
        for s in subjects:
            for f in (trials_src / trial).glob(f"sub_{s}.csv*"):
                (dest / "A_DeviceMotion_data" / trial).mkdir(parents=True, exist_ok=True)
                shutil.copy(f, dest / "A_DeviceMotion_data" / trial / f.name)
    shutil.copy(src / "data_subjects_info.csv", dest / "data_subjects_info.csv")
    return dest


def first_recording(folder: Path) -> Path:
    return sorted(folder.rglob("sub_*.csv*"))[0]


def as_plain(path: Path, text: str) -> Path:
    path.unlink()
    new = path.with_name(path.name.removesuffix(".gz"))
    new.write_text(text)
    return new


def text_of(path: Path) -> str:
    raw = path.read_bytes()
    return (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode()


@pytest.mark.parametrize("token", ["nan", "inf", ""])
def test_non_finite_sensor_values_name_file_and_line(tmp_path, token):
    """Finding 3: NaN/inf in a recording was used silently (evaluate exited 0 at 97.18 %)."""
    folder = small_motionsense(tmp_path / "ms")
    rec = first_recording(folder)
    lines = text_of(rec).splitlines()
    cells = lines[5].split(",")
    cells[3] = token
    lines[5] = ",".join(cells)
    plain = as_plain(rec, "\n".join(lines) + "\n")
    result = cli("evaluate", "--all", MOTIONSENSE, "--data", folder)
    named_error(result, plain.name, "line 6")
    result = cli("data", "check", "motionsense", "--data-dir", folder)
    named_error(result, plain.name, "line 6")


def test_csv_cut_mid_line_is_refused(tmp_path):
    folder = small_motionsense(tmp_path / "ms")
    rec = first_recording(folder)
    text = text_of(rec)
    plain = as_plain(rec, text[: len(text) // 2].rsplit(",", 1)[0])
    result = cli("data", "check", "motionsense", "--data-dir", folder)
    named_error(result, plain.name, "line", "cut")


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_bad_gzip_names_the_file(tmp_path, damage):
    """Finding 3: a truncated .csv.gz was a traceback (EOFError) that did not name the file."""
    folder = small_motionsense(tmp_path / "ms")
    rec = first_recording(folder)
    raw = gzip.compress(text_of(rec).encode())
    rec.unlink()
    gz = rec.with_name(rec.name.removesuffix(".gz") + ".gz")
    if damage == "corrupt":
        raw = raw[: len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 0xFF]) + raw[len(raw) // 2 + 1 :]
    else:
        raw = raw[: len(raw) // 2]
    gz.write_bytes(raw)
    result = cli("data", "check", "motionsense", "--data-dir", folder)
    named_error(result, gz.name, "gzip")


def test_data_check_names_a_missing_subjects_column(tmp_path):
    """Finding 3: `data check` did not mention a column missing from data_subjects_info.csv
    (now a warning naming it; without ``code`` the subjects cannot be matched: an error)."""
    folder = small_motionsense(tmp_path / "ms")
    info = folder / "data_subjects_info.csv"
    rows = [r.split(",") for r in info.read_text(encoding="utf-8-sig").splitlines()]
    drop = [c.strip() for c in rows[0]].index("weight")
    info.write_text("\n".join(",".join(c for i, c in enumerate(r) if i != drop) for r in rows))
    with pytest.warns(UserWarning, match=r"data_subjects_info.csv: no column\(s\) \['weight'\]"):
        result = cli("data", "check", "motionsense", "--data-dir", folder)
    assert result.returncode == 0, result.stderr
    rows[0] = ["weight" if c.strip() == "code" else c for c in rows[0]]  # no code: an error
    info.write_text("\n".join(",".join(r) for r in rows))
    named_error(cli("data", "check", "motionsense", "--data-dir", folder), info.name, "code")


@pytest.mark.parametrize("action", ["describe", "check", "download"])
def test_unknown_dataset_name_is_a_named_error(action):
    """Finding 3: an unknown dataset name in `tinyml data ...` was a traceback."""
    named_error(cli("data", action, "no_such_set"), "no_such_set", "motionsense")


def test_features_csv_with_inf_is_refused(tmp_path):
    """Finding 3: a features CSV with inf changed the accuracy silently."""
    src = app_data_dir("music_genre") / "features_30_sec.csv"
    lines = src.read_text().splitlines()
    cells = lines[7].split(",")
    cells[3] = "inf"
    lines[7] = ",".join(cells)
    folder = tmp_path / "gtzan"
    folder.mkdir()
    (folder / src.name).write_text("\n".join(lines) + "\n")
    params = MUSIC.parent / "preprocessing.json"
    result = cli("evaluate", "--all", "--params", params, "--data", folder, MUSIC)
    named_error(result, src.name, cells[0].removesuffix(".wav"))


def test_dataset_refuses_non_finite_examples():
    x = np.zeros((4, 3), np.float32)
    x[2, 1] = np.inf
    with pytest.raises(DataError, match=r"example 2 \(group b\)"):
        base.Dataset("t", x, [0, 0, 1, 1], ["a", "a", "b", "b"], ["c0", "c1"], "local:/x.csv")


def test_clip_length_warning_counts():
    with pytest.warns(UserWarning, match=r"1 clip\(s\) shorter than 1 s .*1 clip\(s\) longer"):
        base.warn_clip_lengths([16000, 3200, 160000, 16000], 16000, 16000, "folder")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert base.warn_clip_lengths([16000] * 3, 16000, 16000, "folder") == (0, 0)


# --------------------------------------------------------------------------- .npz (finding 4)


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture
def x_motionsense():
    from tinyml_utils.tflite.reader import model_info

    info = model_info(MOTIONSENSE)
    shape = info.tensors[info.inputs[0]].shape[1:]
    return np.random.default_rng(0).normal(size=(6, *shape)).astype(np.float32)


def _bench(tmp_path, data):
    return cli(
        "benchmark",
        MOTIONSENSE,
        "--data",
        data,
        "--runs",
        "2",
        "--no-plots",
        "--no-arena",
        "--out",
        tmp_path / "out",
    )


def test_npz_empty_cut_nan_and_labels(tmp_path, x_motionsense):
    x = x_motionsense
    empty = _npz(tmp_path / "empty.npz", x=x[:0], y=np.zeros(0, np.int64))
    named_error(_bench(tmp_path, empty), "empty.npz", "no examples")
    cut = _npz(tmp_path / "cut.npz", x=x, y=np.arange(6) % 3)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    named_error(_bench(tmp_path, cut), "cut.npz")
    xn = x.copy()
    xn[3, 0, 0] = np.nan
    nan = _npz(tmp_path / "nan.npz", x=xn, y=np.arange(6) % 3)
    named_error(_bench(tmp_path, nan), "nan.npz", "example 3")
    labels = _npz(tmp_path / "labels.npz", x=x, y=np.array([0, 1, 2, 9, 0, 1]))
    named_error(_bench(tmp_path, labels), "labels.npz", "9", "3 classes")


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_truncated_archive_names_the_file(tmp_path, kind):
    """Finding 3 (corrupt archives): extracting a cut download names the archive."""
    import tarfile
    import zipfile

    from tinyml_utils.data.datasets.download import extract

    payload = tmp_path / "payload.txt"
    payload.write_bytes(np.random.default_rng(0).bytes(200_000))
    archive = tmp_path / f"data.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(payload, "payload.txt")
        raw = archive.read_bytes()
        archive.write_bytes(raw[:40] + bytes(b ^ 0xFF for b in raw[40:400]) + raw[400:])
    else:
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(payload, "payload.txt")
        archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match=f"data.{kind}"):
        extract(archive, tmp_path / "out")
