"""tinyml_utils.data.datasets: synthetic data, real data, splits, errors, downloads and the CLI."""

from __future__ import annotations

import gzip
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import app_data_dir

from tinyml_utils.cli import main as tinyml_main
from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data import datasets
from tinyml_utils.data.datasets import carsensor, download, gtzan, motionsense, speech_commands

# ---------------------------------------------------------------------------------------
# Synthetic data: shapes, classes, determinism, groups
# ---------------------------------------------------------------------------------------

EXPECTED_SHAPE = {  # per-example shape of x
    "carsensor": (100, 3),
    "speech_commands": (16000,),
    "gtzan": (57,),
}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Downloads and recorded checksums go to a per-test cache, never the user's."""
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", datasets.NAMES)
def test_synthetic_has_the_real_shapes_classes_and_groups(name):
    ds = datasets.load(name, source="synthetic")
    assert ds.name == name and ds.source == "synthetic"
    assert ds.class_names == datasets.class_names(name)
    assert ds.y.dtype == np.int64
    assert set(np.unique(ds.y)) == set(range(len(ds.class_names)))  # every class present
    assert len(np.unique(ds.groups)) >= 12
    assert 50 <= len(ds) <= 500  # small: quick mode (MotionSense: 72 recordings)
    if name == "motionsense":
        assert all(a.dtype == np.float32 and a.ndim == 2 and a.shape[1] == 12 for a in ds.x)
        assert ds.meta["channels"] == motionsense.CHANNELS and ds.sample_rate == 50.0
    else:
        assert ds.x.dtype == np.float32 and ds.x.shape == (len(ds), *EXPECTED_SHAPE[name])
    if name == "speech_commands":
        assert np.abs(ds.x).max() <= 1.0 and ds.sample_rate == 16000
        assert ds.class_names == ["other", "on"] and len(ds.meta["words"]) == len(ds)
    if name == "gtzan":
        assert ds.meta["feature_names"] == gtzan.FEATURE_NAMES


@pytest.mark.parametrize("name", datasets.NAMES)
def test_synthetic_is_deterministic(name):
    a, b = datasets.load(name, source="synthetic"), datasets.load(name, source="synthetic")
    c = datasets.load(name, source="synthetic", seed=1)
    xa, xb, xc = (np.concatenate(d.x) if name == "motionsense" else d.x for d in (a, b, c))
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.groups, b.groups)
    assert xa.shape != xc.shape or not np.array_equal(xa, xc)


def test_motionsense_three_classes_group_the_activities():
    six = datasets.load("motionsense", source="synthetic", classes=6)
    three = datasets.load("motionsense", source="synthetic", classes=3)
    assert three.class_names == ["stairs", "walk_jog", "sit_stand"]
    grouped = {"dws": 0, "ups": 0, "wlk": 1, "jog": 1, "sit": 2, "std": 2}
    assert [grouped[a] for a in three.meta["activities"]] == list(three.y)
    assert [six.class_names[i] for i in six.y] == six.meta["activities"]
    with pytest.raises(ValueError, match="6 or 3"):
        datasets.class_names("motionsense", classes=4)


def test_speech_wake_word_and_gtzan_audio_options():
    ds = datasets.load("speech_commands", source="synthetic", wake_word="yes")
    assert ds.class_names == ["other", "yes"]
    assert set(ds.meta["words"][ds.y == 1]) == {"yes"}
    small = datasets.load("speech_commands", source="synthetic", max_per_class=5)
    assert small.counts() == {"other": 5, "on": 5}
    audio = datasets.load("gtzan", source="synthetic", kind="audio", duration=1.0)
    assert audio.x.shape == (20, 22050) and audio.sample_rate == 22050
    assert audio.groups[0] == "blues.00000"


def test_synthetic_is_learnable_across_groups():
    """A nearest-centroid classifier on the motion energy separates held-out recordings."""
    ds = datasets.load("carsensor", source="synthetic")
    train, _, test = datasets.split_by_group(ds, test_size=0.34, val_size=0.0)
    feats = [np.linalg.norm(d.x, axis=2).std(1, keepdims=True) for d in (train, test)]
    mu, sd = feats[0].mean(0), feats[0].std(0)
    f_train, f_test = ((f - mu) / sd for f in feats)
    centroids = np.stack([f_train[train.y == c].mean(0) for c in (0, 1)])
    pred = ((f_test[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert (pred == test.y).mean() > 0.9


# ---------------------------------------------------------------------------------------
# Dataset and split_by_group
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", datasets.NAMES)
def test_split_never_shares_a_group(name):
    ds = datasets.load(name, source="synthetic")
    train, val, test = datasets.split_by_group(ds, test_size=0.2, val_size=0.1, seed=3)
    sets = [set(part.groups.tolist()) for part in (train, val, test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(train) + len(val) + len(test) == len(ds)
    assert sets[0] | sets[1] | sets[2] == set(ds.groups.tolist())
    n = len(np.unique(ds.groups))
    assert len(sets[2]) == max(1, round(0.2 * n)) and len(sets[1]) == max(1, round(0.1 * n))
    assert test.meta["split"].startswith(f"by {ds.meta['group_name']}:")
    again = datasets.split_by_group(ds, test_size=0.2, val_size=0.1, seed=3)[2]
    np.testing.assert_array_equal(again.y, test.y)
    np.testing.assert_array_equal(again.groups, test.groups)


def test_split_with_fixed_test_groups_and_no_validation():
    ds = datasets.load("motionsense", source="synthetic")
    train, val, test = datasets.split_by_group(ds, val_size=0.0, test_groups=[10, 11, 12])
    assert sorted(set(test.groups.tolist())) == [10, 11, 12]
    assert len(val) == 0 and len(train) == len(ds) - len(test)
    assert test.meta["trials"] == [ds.meta["trials"][i] for i in np.flatnonzero(ds.groups >= 10)]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_size": 0.0}, ValueError, "test_size"),
        ({"test_size": 1.5}, ValueError, "test_size"),
        ({"val_size": -0.1}, ValueError, "val_size"),
        ({"test_size": 0.6, "val_size": 0.4}, ValueError, "below 1"),
        ({"test_groups": [99]}, DataError, "not subjects"),
    ],
)
def test_split_rejects_bad_arguments(kwargs, error, match):
    ds = datasets.load("motionsense", source="synthetic")
    with pytest.raises(error, match=match):
        datasets.split_by_group(ds, **kwargs)


def test_split_needs_enough_groups():
    ds = datasets.load("carsensor", source="synthetic", n_recordings=2)
    with pytest.raises(DataError, match="only 2 recordings"):
        datasets.split_by_group(ds, test_size=0.2, val_size=0.1)


def test_dataset_validates_lengths_and_subsets_meta():
    with pytest.raises(DataError, match="one entry per example"):
        datasets.Dataset("x", np.zeros((3, 2)), [0, 1], [0, 1, 2], ["a", "b"], "synthetic")
    with pytest.raises(DataError, match="labels must be in 0..1"):
        datasets.Dataset("x", np.zeros((2, 2)), [0, 2], [0, 1], ["a", "b"], "synthetic")
    ds = datasets.load("speech_commands", source="synthetic")
    sub = ds.subset(ds.y == 1)
    assert len(sub) == int(ds.y.sum()) and set(sub.meta["words"]) == {"on"}
    assert len(ds.meta["words"]) == len(ds)  # the original is unchanged


def test_names_sources_and_descriptions():
    assert datasets.load("Speech_Commands ", source="synthetic").name == "speech_commands"
    assert datasets.class_names("gtzan") == gtzan.GENRES
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("mnist", source="synthetic")
    with pytest.raises(ValueError, match="source must be one of"):
        datasets.load("gtzan", source="web")
    for name in datasets.NAMES:
        text = datasets.describe(name)
        assert "License" in text and "Get it" in text and "Folder under" in text


# ---------------------------------------------------------------------------------------
# Real data (../shared/data): counts from each folder's PROVENANCE.md
# ---------------------------------------------------------------------------------------

ROWS_PER_ACTIVITY = {
    "dws": 117_649,
    "ups": 138_707,
    "wlk": 304_116,
    "jog": 118_355,
    "sit": 303_544,
    "std": 268_905,
}


@pytest.mark.real_data
def test_real_motionsense():
    folder = app_data_dir("motionsense")
    six = datasets.load("motionsense", source="local", data_dir=folder)
    assert len(six) == 315 and sorted(set(six.groups.tolist())) == list(range(1, 22))
    rows = {a: 0 for a in motionsense.ACTIVITIES}
    for activity, x in zip(six.meta["activities"], six.x, strict=True):
        rows[activity] += len(x)
    assert rows == ROWS_PER_ACTIVITY
    assert all(x.shape[1] == 12 and x.dtype == np.float32 for x in six.x)
    assert len(six.meta["subjects_info"]) == 21
    three = datasets.load("motionsense", data_dir=folder.parent, classes=3)  # data root works
    rows3 = [sum(len(x) for x, y in zip(three.x, three.y, strict=True) if y == c) for c in range(3)]
    assert rows3 == [117_649 + 138_707, 304_116 + 118_355, 303_544 + 268_905]
    train, val, test = datasets.split_by_group(three, test_groups=[19, 20, 21])
    assert set(test.groups.tolist()) == {19, 20, 21} and len(test) == 45
    assert not set(train.groups.tolist()) & set(val.groups.tolist())


@pytest.mark.real_data
def test_real_speech_commands():
    folder = app_data_dir("keyword_spotting")
    ds = datasets.load("speech_commands", data_dir=folder, progress=False)
    assert ds.x.shape == (3410, 16000) and ds.x.dtype == np.float32
    assert ds.counts() == {"other": 3067, "on": 343}
    speakers = {g for g in ds.groups.tolist() if not g.startswith("_silence_/")}
    assert len(speakers) == 202 and len(set(ds.groups[ds.y == 1].tolist())) == 136
    assert sum(g.startswith("_silence_/") for g in ds.groups.tolist()) == 353
    assert len(set(ds.meta["words"].tolist())) == 10 + 25 + 1  # commands, unknown words, silence
    small = datasets.load("speech_commands", data_dir=folder, max_per_class=50, progress=False)
    assert small.counts() == {"other": 50, "on": 50}
    np.testing.assert_array_equal(
        small.x, ds.subset(np.isin(ds.meta["files"], small.meta["files"])).x
    )


@pytest.mark.real_data
def test_real_gtzan_features_and_audio():
    folder = app_data_dir("music_genre")
    ds = datasets.load("gtzan", data_dir=folder)
    assert ds.x.shape == (850, 57) and ds.counts() == dict.fromkeys(gtzan.GENRES, 85)
    assert not {"filename", "length", "label"} & set(ds.meta["feature_names"])
    assert len(np.unique(ds.groups)) == 850
    same = datasets.load("gtzan", data_dir=folder / "features_30_sec.csv")  # the file itself
    np.testing.assert_array_equal(same.x, ds.x)
    audio = datasets.load("gtzan", data_dir=folder, kind="audio", progress=False)
    assert audio.x.shape == (10, 661_500) and audio.sample_rate == 22050
    assert list(audio.meta["files"]) == [f"{g}.00000.wav" for g in gtzan.GENRES]
    length_in_csv = dict(zip(ds.meta["files"], ds.meta["lengths"], strict=True))
    assert [length_in_csv[f] for f in audio.meta["files"]] == list(audio.meta["lengths"])
    assert list(audio.meta["lengths"]) == [
        661794, 661794, 663300, 664180, 661504, 661794, 661504, 661504, 661794, 661794,
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Bad paths and malformed files
# ---------------------------------------------------------------------------------------


def _motion_csv(path: Path, rows: int = 20, columns=motionsense.CHANNELS, gz: bool = False):
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(rows, len(columns))), columns=columns
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = frame.to_csv().encode()
    path.write_bytes(gzip.compress(text) if gz else text)


def _wav(path: Path, seconds: float = 1.0, rate: int = 16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), rate, subtype="PCM_16")


def test_missing_folder_names_the_path_and_the_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist.*dws_1/sub_1.csv"):
        datasets.load("motionsense", source="local", data_dir=tmp_path / "nope")


def test_auto_without_data_says_where_to_put_it(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("TINYML_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.load("speech_commands")
    message = str(info.value)
    assert str(tmp_path / "empty" / "keyword_spotting") in message
    assert "on/022cd682_nohash_0.wav" in message and "tinyml data download" in message
    with pytest.raises(DatasetNotFoundError, match="kaggle datasets download"):
        datasets.load("carsensor", source="download")


@pytest.mark.parametrize("name", datasets.NAMES)
def test_wrong_layout_is_reported(tmp_path, name):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetNotFoundError, match="Fix"):
        datasets.load(name, source="local", data_dir=tmp_path)


def test_motionsense_files_are_read_and_checked(tmp_path):
    root = tmp_path / "motionsense"
    _motion_csv(root / "A_DeviceMotion_data" / "dws_1" / "sub_1.csv.gz", rows=30, gz=True)
    _motion_csv(root / "A_DeviceMotion_data" / "sit_5" / "sub_2.csv", rows=40)
    (root / "data_subjects_info.csv").write_bytes(b"\xef\xbb\xbfcode,weight\r\n1,70\r\n2,80\r\n")
    ds = datasets.load("motionsense", data_dir=root)
    assert [len(x) for x in ds.x] == [30, 40] and list(ds.groups) == [1, 2]
    assert list(ds.meta["subjects_info"].columns) == ["code", "weight"]
    (root / "A_DeviceMotion_data" / "ups_3").mkdir()
    with pytest.raises(DataError, match="ups_3 holds no sub_"):
        datasets.load("motionsense", data_dir=root)
    (root / "A_DeviceMotion_data" / "ups_3").rmdir()
    _motion_csv(root / "A_DeviceMotion_data" / "wlk_7" / "sub_3.csv", columns=["gravity.x", "a"])
    with pytest.raises(DataError, match=r"sub_3.csv: missing columns \['attitude.roll'"):
        datasets.load("motionsense", data_dir=root)


def test_speech_files_are_read_and_checked(tmp_path):
    root = tmp_path / "kws"
    _wav(root / "on" / "0a0b0c0d_nohash_0.wav", seconds=0.5)
    _wav(root / "yes" / "11111111_nohash_1.wav", seconds=1.2)
    _wav(root / "_unknown_" / "bed_22222222_nohash_0.wav")
    _wav(root / "_background_noise_" / "white_noise.wav", seconds=3.5)
    (root / "testing_list.txt").write_text("yes/11111111_nohash_1.wav\n")
    ds = datasets.load("speech_commands", data_dir=root, progress=False)
    assert list(ds.meta["partition"]) == ["train", "train", "test"] + ["train"] * 3
    assert ds.x.shape == (6, 16000) and list(ds.y) == [0, 1, 0, 0, 0, 0]
    assert (
        list(ds.groups)
        == ["22222222", "0a0b0c0d", "11111111"] + ["_background_noise_/white_noise.wav"] * 3
    )
    assert list(ds.meta["words"]) == ["bed", "on", "yes"] + ["_silence_"] * 3
    assert np.all(ds.x[1, 8000:] == 0)  # padded at the end
    nested = datasets.load("speech_commands", data_dir=tmp_path, progress=False)  # kws/ inside
    np.testing.assert_array_equal(nested.x, ds.x)
    _wav(root / "no" / "33333333_nohash_0.wav", rate=8000)
    with pytest.raises(DataError, match="sample rate 8000 Hz, expected 16000 Hz"):
        datasets.load("speech_commands", data_dir=root, progress=False)
    (root / "no" / "33333333_nohash_0.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(DataError, match="not a readable WAV"):
        datasets.load("speech_commands", data_dir=root, progress=False)
    empty = tmp_path / "empty_kws"
    (empty / "on").mkdir(parents=True)
    with pytest.raises(DataError, match="hold no .wav files"):
        datasets.load("speech_commands", data_dir=empty)
    no_wake = tmp_path / "no_wake"
    _wav(no_wake / "yes" / "11111111_nohash_1.wav")
    with pytest.raises(DataError, match="no clips of the wake word 'on'"):
        datasets.load("speech_commands", data_dir=no_wake, progress=False)


def test_gtzan_files_are_read_and_checked(tmp_path):
    header = "filename,length," + ",".join(gtzan.FEATURE_NAMES) + ",label\n"
    rows = "".join(
        f"{g}.0000{i}.wav,661794," + ",".join(["0.5"] * 57) + f",{g}\n"
        for g in ("rock", "pop")
        for i in range(2)
    )
    (tmp_path / "features_30_sec.csv").write_text(header + rows)
    ds = datasets.load("gtzan", data_dir=tmp_path)
    assert ds.x.shape == (4, 57) and list(ds.y) == [9, 9, 7, 7]
    (tmp_path / "features_30_sec.csv").write_text(header.replace(",label", ",genre") + rows)
    with pytest.raises(DataError, match=r"missing columns \['label'\]"):
        datasets.load("gtzan", data_dir=tmp_path)
    audio = tmp_path / "Data" / "genres_original"
    _wav(audio / "rock" / "rock.00001.wav", seconds=0.5, rate=22050)
    (audio / "jazz").mkdir()
    (audio / "jazz" / "jazz.00054.wav").write_bytes(b"\x00" * 100)  # the known bad file
    with pytest.warns(UserWarning, match="jazz.00054.wav"):
        ds = datasets.load("gtzan", data_dir=tmp_path, kind="audio", duration=1.0, progress=False)
    assert ds.x.shape == (1, 22050) and list(ds.meta["lengths"]) == [11025]
    assert ds.meta["skipped"][0].endswith("jazz.00054.wav")
    (audio / "jazz" / "jazz.00054.wav").unlink()
    _wav(audio / "pop" / "pop.00002.wav", rate=44100)
    with pytest.raises(DataError, match="sample rate 44100 Hz, expected 22050 Hz"):
        datasets.load("gtzan", data_dir=tmp_path, kind="audio", progress=False)


def test_carsensor_csv_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["acc_x", "acc_y", "acc_z"])
    frame["target"] = [1] * 100 + [0] * 200
    frame.to_csv(tmp_path / carsensor.CSV_FILE, index=False)
    ds = datasets.load("carsensor", data_dir=tmp_path, block_windows=2)
    assert ds.x.shape == (3, 100, 3) and list(ds.y) == [1, 0, 0]
    np.testing.assert_allclose(ds.x[1, 0], frame.iloc[100, :3].to_numpy(), rtol=1e-6)
    assert list(ds.groups) == ["block_00000", "block_00000", "block_00001"]
    frame.iloc[:250].to_csv(tmp_path / carsensor.CSV_FILE, index=False)
    with pytest.raises(DataError, match="not a multiple of the window length 100"):
        datasets.load("carsensor", data_dir=tmp_path)
    frame.drop(columns="target").to_csv(tmp_path / carsensor.CSV_FILE, index=False)
    with pytest.raises(DataError, match=r"missing columns \['target \(or label\)'\]"):
        datasets.load("carsensor", data_dir=tmp_path)
    npz = tmp_path / "windows.npz"
    np.savez(npz, x=rng.normal(size=(4, 100, 3)), y=[0, 1, 1, 0], groups=["a", "a", "b", "b"])
    assert list(datasets.load("carsensor", data_dir=npz).groups) == ["a", "a", "b", "b"]
    np.savez(npz, x=rng.normal(size=(4, 50, 3)), y=[0, 1, 1, 0])
    with pytest.raises(DataError, match=r"expected \(N, 100, 3\)"):
        datasets.load("carsensor", data_dir=npz)


# ---------------------------------------------------------------------------------------
# Downloads: file:// and a local HTTP server, with SHA-256 checks
# ---------------------------------------------------------------------------------------


def _motionsense_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for trial, subject in (("dws_1", 1), ("jog_9", 2)):
            buf = io.StringIO()
            pd.DataFrame(np.ones((10, 12)), columns=motionsense.CHANNELS).to_csv(buf)
            zf.writestr(f"A_DeviceMotion_data/{trial}/sub_{subject}.csv", buf.getvalue())
        zf.writestr("__MACOSX/._junk", "mac resource fork")


def test_download_records_then_verifies_the_checksum(tmp_path, monkeypatch):
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    _motionsense_zip(remote_dir / "A_DeviceMotion_data.zip")
    (remote_dir / "data_subjects_info.csv").write_text("code,weight\n1,70\n2,80\n")
    remotes = (
        download.Remote((remote_dir / "A_DeviceMotion_data.zip").as_uri(), "A.zip"),
        download.Remote(
            (remote_dir / "data_subjects_info.csv").as_uri(),
            motionsense.SUBJECTS_FILE,
            extract=False,
        ),
    )
    monkeypatch.setattr(motionsense, "REMOTES", remotes)
    (tmp_path / "no_data").mkdir()
    monkeypatch.setenv("TINYML_DATA_DIR", str(tmp_path / "no_data"))
    ds = datasets.load("motionsense", source="download", progress=False)
    assert ds.source == f"download:{remotes[0].url}" and list(ds.groups) == [1, 2]
    digest = download.sha256_of(remote_dir / "A_DeviceMotion_data.zip")
    assert download.expected_sha256(remotes[0].url) == (digest, "recorded")
    again = datasets.load("motionsense", progress=False)  # auto finds the download cache
    assert again.source == f"local:{tmp_path / 'cache' / 'motionsense'}" and len(again) == 2
    assert list(again.meta["subjects_info"]["code"]) == [1, 2]

    # the remote file changes: a fresh download no longer matches the recorded hash
    (remote_dir / "A_DeviceMotion_data.zip").write_bytes(b"tampered")
    cached = tmp_path / "cache" / "downloads" / "A.zip"
    cached.unlink()
    with pytest.raises(DataError, match="SHA-256 mismatch.*recorded.*delete its entry"):
        download.fetch(remotes[0], progress=False)
    assert not cached.exists() and not cached.with_name("A.zip.part").exists()


def test_download_over_http_with_a_known_checksum(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    clip = tmp_path / "clip.wav"
    _wav(clip)
    with tarfile.open(served / "kws.tar.gz", "w:gz") as tf:
        tf.add(clip, "on/0a0b0c0d_nohash_0.wav")
        tf.add(clip, "yes/11111111_nohash_0.wav")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=served, **k)  # noqa: E731
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/kws.tar.gz"
        remote = download.Remote(url, "kws.tar.gz")
        monkeypatch.setattr(speech_commands, "REMOTES", {"test": (remote,)})
        good = download.sha256_of(served / "kws.tar.gz")
        with pytest.raises(DataError, match=f"expected {'0' * 64} .given., got {good}"):
            download.fetch(remote, sha256="0" * 64, progress=False)
        path = download.fetch(remote, sha256=good, progress=False)
        assert download.sha256_of(path) == good
        ds = datasets.load("speech_commands", source="download", variant="test", progress=False)
        assert ds.counts() == {"other": 1, "on": 1} and ds.source == f"download:{url}"
        (tmp_path / "no_data").mkdir()
        monkeypatch.setenv("TINYML_DATA_DIR", str(tmp_path / "no_data"))
        cached = datasets.load("speech_commands", progress=False)  # auto finds the download
        assert cached.source == f"local:{tmp_path / 'cache' / 'keyword_spotting' / 'test'}"
        missing = download.Remote(url.replace("kws", "nothing"), "nothing.tar.gz")
        with pytest.raises(DatasetNotFoundError, match="could not download"):
            download.fetch(missing, progress=False)
    finally:
        server.shutdown()
        server.server_close()


def test_extract_refuses_paths_outside_the_folder(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(DataError, match="unsafe paths"):
        download.extract(bad, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_known_checksums_file_lists_speech_commands():
    digest, origin = download.expected_sha256(speech_commands.URL_FULL)
    assert origin == "known" and len(digest) == 64


# ---------------------------------------------------------------------------------------
# tinyml data
# ---------------------------------------------------------------------------------------


def test_cli_list_describe_check(capsys, monkeypatch):
    assert tinyml_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "keyword_spotting/" in out and "stairs" not in out and "dws, ups" in out
    assert tinyml_main(["data", "describe", "carsensor"]) == 0
    assert "Mobile Accelerometer Car 12K" in capsys.readouterr().out
    args = ["data", "check", "motionsense", "--source", "synthetic", "--classes", "3"]
    assert tinyml_main(args) == 0
    out = capsys.readouterr().out
    assert "stairs                24" in out and "12 subjects" in out
    nowhere = download.Remote("http://127.0.0.1:9/genres.tar.gz", gtzan.ARCHIVE)  # no network
    monkeypatch.setattr(gtzan, "MIRRORS", (nowhere,))
    assert tinyml_main(["data", "download", "gtzan"]) == 2
    err = capsys.readouterr().err
    assert "could not download the GTZAN audio from any mirror" in err
    assert "kaggle datasets download" in err  # the features CSV: Kaggle only
