"""CarSensor on the TMD recordings: parsing, resampling, download, features, LOUO."""

from __future__ import annotations

import gzip
import http.server
import threading

import numpy as np
import pytest

from tinyml_utils.apps import carsensor as app
from tinyml_utils.apps.prepare import prepare
from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data import datasets
from tinyml_utils.data.datasets import carsensor, download, tmd

ACC = tmd.ACCELEROMETER


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    tmd._CACHE.clear()


def _recording(seconds: float, period_ms: float, amp: float, seed: int = 0) -> str:
    """A TMD-style CSV: a zero first row, accelerometer rows every ``period_ms`` mixed with
    other sensors, one malformed row."""
    rng = np.random.default_rng(seed)
    lines = ["6,,0.0,0.0,0.0,0.0"]
    for i, t in enumerate(np.arange(10, seconds * 1000, period_ms)):
        a = np.array([0.0, 0.0, 9.81]) + rng.normal(0, amp, 3)
        lines.append(f"{int(t)},{ACC},{a[0]},{a[1]},{a[2]}")
        lines.append(f"{int(t) + 3},android.sensor.gyroscope,0.1,0.2,0.3")
        if i == 5:
            lines.append(f"r2,{ACC},1.0,2.0,3.0")  # as in one real file
            lines.append(f"{int(t) + 5},sound,88.1")
    return "\n".join(lines) + "\n"


def _write(folder, name, text, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    if gz:
        (folder / (name + ".gz")).write_bytes(gzip.compress(text.encode()))
    else:
        (folder / name).write_text(text)


def _tmd_folder(root):
    sub = root / "tmd" / "_RawDataOriginal"
    _write(sub, "sensorfile_ann_Car_1000.csv", _recording(130, 200, 0.5, 1), gz=True)
    _write(sub, "sensorfile_ann_Still_2000.csv", _recording(130, 60, 0.01, 2))
    _write(sub, "sensorfile_bob_Walking_3000.csv", _recording(130, 300, 3.0, 3), gz=True)
    _write(sub, "sensorfile_bob_Train_4000.csv", _recording(70, 100, 0.2, 4))
    (sub / "notes.txt").write_text("not a recording")
    return root


def test_tmd_folder_is_parsed_resampled_and_grouped_by_user(tmp_path):
    folder = _tmd_folder(tmp_path / "data")
    ds = datasets.load("carsensor", source="local", data_dir=folder, progress=False)
    assert ds.meta["format"] == "tmd" and ds.sample_rate == 5.0
    assert list(ds.meta["recording"]) == [
        "sensorfile_ann_Car_1000.csv", "sensorfile_ann_Still_2000.csv",
        "sensorfile_bob_Train_4000.csv", "sensorfile_bob_Walking_3000.csv",
    ]  # fmt: skip
    assert list(ds.y) == [1, 0, 1, 0] and list(ds.groups) == ["ann", "ann", "bob", "bob"]
    assert list(ds.meta["mode"]) == ["Car", "Still", "Train", "Walking"]
    assert ds.meta["skipped_rows"] == 4  # the "r2" row of each file
    # 5 Hz whatever the phone's own rate (200, 60, 100, 300 ms between readings)
    assert [round(len(x) / 5) for x in ds.x] == [130, 130, 70, 130]
    np.testing.assert_allclose(ds.meta["native_rate"], [5, 1000 / 60, 10, 1000 / 300], rtol=0.02)
    assert all(x.dtype == np.float32 and x.shape[1] == 3 for x in ds.x)
    # sample-and-hold keeps the phone's own values: no new (interpolated) values appear
    rows, bad = tmd.read_sensor(
        folder / "tmd" / "_RawDataOriginal" / "sensorfile_bob_Walking_3000.csv.gz"
    )
    assert bad == 1 and set(ds.x[3][:, 0].tolist()) <= set(rows[:, 1].astype(np.float32).tolist())


def test_sample_and_hold():
    rows = np.array([[0.0, 1, 1, 1], [0.25, 2, 2, 2], [0.3, 3, 3, 3], [1.0, 4, 4, 4]])
    out = tmd.resample_hold(rows, 10.0)
    assert out[:, 0].tolist() == [1, 1, 1, 3, 3, 3, 3, 3, 3, 3]
    assert tmd.resample_hold(rows[:1], 10.0).shape == (0, 3)


def test_csv_wins_over_csv_gz_and_bad_files_are_named(tmp_path):
    text = _recording(20, 200, 0.5)
    _write(tmp_path, "sensorfile_x_Car_1.csv", text)
    _write(tmp_path, "sensorfile_x_Car_1.csv", text, gz=True)
    assert [f.name for f in tmd.find_files(tmp_path)] == ["sensorfile_x_Car_1.csv"]
    (tmp_path / "sensorfile_x_Car_1.csv").unlink()
    (tmp_path / "sensorfile_x_Car_1.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="sensorfile_x_Car_1.csv.gz: cannot be read"):
        tmd.read_folder(tmp_path, progress=False)
    with pytest.raises(DataError, match="rate must be a positive"):
        tmd.read_folder(tmp_path, rate=0)


def test_download_from_a_local_http_server(tmp_path, monkeypatch):
    served = tmp_path / "served" / "raw"
    texts = {
        "sensorfile_ann_Car_1000.csv": _recording(130, 200, 0.5, 1),
        "sensorfile_ann_Still_2000.csv": _recording(130, 100, 0.01, 2),
    }
    for name, text in texts.items():
        _write(served, name, text)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=tmp_path / "served", **k
    )
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/raw/"
        files = {n: {"sha256": download.sha256_of(served / n), "size": 1} for n in texts}
        files["sensorfile_ann_Car_1000.csv"] = None  # unknown: recorded on first use
        monkeypatch.setattr(tmd, "RAW_URL", base)
        monkeypatch.setattr(tmd, "_FILES", {**tmd._FILES, "files": files})
        assert tmd.known_sha256() == {
            base + "sensorfile_ann_Still_2000.csv": files["sensorfile_ann_Still_2000.csv"]["sha256"]
        }
        (tmp_path / "no_data").mkdir()
        monkeypatch.setenv("TINYML_DATA_DIR", str(tmp_path / "no_data"))
        ds = datasets.load("carsensor", source="download", progress=False)
        assert ds.source == f"download:{base.rstrip('/')}" and list(ds.y) == [1, 0]
        assert download.expected_sha256(base + "sensorfile_ann_Car_1000.csv")[1] == "recorded"
        again = datasets.load("carsensor", progress=False)  # auto: the download cache
        assert again.source == f"local:{tmp_path / 'cache' / 'carsensor'}" and len(again) == 2
        # a file that changed upstream is refused (known hash)
        _write(served, "sensorfile_ann_Still_2000.csv", "tampered")
        (tmp_path / "cache" / "downloads" / "sensorfile_ann_Still_2000.csv").unlink()
        (tmp_path / "cache" / "carsensor" / download.COMPLETE_MARKER).unlink()
        with pytest.raises(DataError, match="SHA-256 mismatch"):
            carsensor.download(progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert [r.url for r in tmd.remotes("archive")] == [tmd.ARCHIVE_URL]
    with pytest.raises(DataError, match="variant must be one of"):
        tmd.remotes("kaggle")


def test_real_file_list_and_known_hashes():
    files = tmd._FILES["files"]
    assert len(files) == 99 and tmd.COMMIT == "117e69a088bf6a4cbe863e163bc38e60b89d4711"
    assert all(tmd.parse_name(__import__("pathlib").Path(n)) for n in files)
    assert len(tmd.known_sha256()) == 68
    assert tmd.remotes()[0].url.startswith(
        "https://raw.githubusercontent.com/vlomonaco/US-TransportationMode/117e69a"
    )


def test_block_features_ignore_orientation_and_see_motion():
    rng = np.random.default_rng(0)
    still = np.array([0, 0, 9.81]) + rng.normal(0, 0.01, (1, 300, 3))
    walk = np.array([0, 0, 9.81]) + rng.normal(0, 2.0, (1, 300, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # any rotation of the phone
    f = app.block_features(np.concatenate([still, walk, walk @ q.T]), 12)
    assert f.shape == (3, 12, 4) and f.dtype == np.float32
    assert (f[1, :, 0] - f[0, :, 0]).min() > 3  # log spread: walking >> still
    np.testing.assert_allclose(f[1], f[2], atol=1e-4)  # rotation does not change them
    with pytest.raises(DataError, match="blocks of >= 2 samples"):
        app.block_features(walk[:, :20], 12)


def test_prepare_windows_never_cross_recordings():
    data = prepare("carsensor", source="synthetic", quick=True)
    assert data.input_shape == (12, 4) and data.preprocessing["layout"] == "recordings"
    p = data.preprocessing
    assert (p["rate"], p["window"], p["blocks"]) == (5.0, 300, 12)
    ds = datasets.load("carsensor", source="synthetic")
    expected = sum((len(x) - p["window"]) // p["hop"] + 1 for x in ds.x)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == expected
    with pytest.raises(DataError, match="no recording is 3000 samples long"):
        prepare("carsensor", source="synthetic", quick=True, window_seconds=600)


def test_kaggle_windows_get_the_same_model_input(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "w.npz", x=rng.normal(size=(40, 100, 3)), y=[0, 1] * 20,
             groups=np.repeat(np.arange(10), 4))  # fmt: skip
    data = prepare("carsensor", source="local", data_dir=tmp_path / "w.npz")
    assert data.input_shape == (12, 4) and data.preprocessing["layout"] == "windows"


def test_missing_tmd_folder_says_how_to_download(tmp_path):
    (tmp_path / "empty" / "carsensor").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="tinyml data download carsensor"):
        datasets.load("carsensor", source="local", data_dir=tmp_path / "empty")


@pytest.mark.slow
def test_leave_one_user_out_on_synthetic_users():
    from tinyml_utils.apps import louo

    r = louo.leave_one_group_out("carsensor", epochs=20, batch_size=16, runtime="keras",
                                 progress=False, hop_seconds=30.0)  # fmt: skip
    assert list(r.per_group.index) == [f"user_{u:02d}" for u in range(12)]
    assert r.per_group["examples"].sum() == len(r.predictions)
    assert r.pooled.balanced_accuracy > 0.8  # the synthetic modes are easy
    assert set(r.predictions["mode"]) == {"Still", "Walking", "Car", "Bus", "Train"}


def test_archive_variant_finds_the_recordings_in_any_layout(tmp_path, monkeypatch):
    """The project's raw_data.tar.gz (layout not verified): recordings anywhere inside."""
    import tarfile

    src = _tmd_folder(tmp_path / "src")
    archive = tmp_path / "raw_data.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src / "tmd", "raw_data/some/folder")
    monkeypatch.setattr(tmd, "ARCHIVE_URL", archive.as_uri())
    ds = datasets.load("carsensor", source="download", variant="archive", progress=False)
    assert list(ds.groups) == ["ann", "ann", "bob", "bob"] and ds.meta["format"] == "tmd"
    assert ds.source == f"download:{archive.as_uri()}"
