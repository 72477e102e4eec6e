"""GTZAN: the artist-disjoint split and the audio download without a Kaggle account.

The download is tested end to end through a local HTTP server that serves an archive built
in the original layout (``genres/<genre>/<genre>.000NN.wav``) from the 10 real WAVs of the
shared data; the public mirrors themselves cannot be reached from the test machines.
"""

from __future__ import annotations

import http.server
import json
import tarfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import app_data_dir

from tinyml_utils import apps
from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data import datasets
from tinyml_utils.data.datasets import download, gtzan


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))


def test_artist_split_is_the_published_one():
    split = gtzan.artist_split()
    assert {side: len(t) for side, t in split.items()} == {"train": 443, "valid": 197, "test": 290}
    every = [t for tracks in split.values() for t in tracks]
    assert len(set(every)) == 930 == len(every)  # disjoint; 70 faulty tracks on no side
    # 1-based numbers (dnn-mgr's prepare_dataset.py reads int(line) - 1); the same names as
    # torchaudio's filtered_train/valid/test lists
    assert split["valid"][0] == "blues.00000" and split["test"][0] == "blues.00012"
    assert split["train"][0] == "blues.00029" and split["train"][-1] == "rock.00099"
    assert "hiphop.00000" in split["test"] and "jazz.00054" in split["train"]
    assert "jazz.00033" not in every and "pop.00015" not in every  # faulty: left out
    assert gtzan.track_name(1) == "blues.00000" and gtzan.track_name(1000) == "rock.00099"
    with pytest.raises(DataError, match="outside 1..1000"):
        gtzan.track_name(0)
    about = json.loads(gtzan.SPLIT_FILE.read_text())
    assert about["source"]["commit"] == "f245676f76255b88b576ffa9939eaee930f88d57"
    assert about["source"]["index_base"] == 1 and "Kereliuk" in about["citation"]
    sides = gtzan.split_side(["blues.00000.wav", "blues.00012", "classical.00042", "x"])
    assert list(sides) == ["valid", "test", "", ""]
    assert not gtzan.covers_split([f"{g}.00000" for g in gtzan.GENRES])  # the 10-track sample
    assert gtzan.covers_split(every)


def test_music_app_splits_by_artist_on_the_real_features():
    folder = app_data_dir("music_genre")
    by_artist = apps.prepare("music_genre", source="local", data_dir=folder)
    split = by_artist.preprocessing["split"]
    sides = {k: set(split[k]) for k in ("train_groups", "val_groups", "test_groups")}
    published = gtzan.artist_split()
    assert sides["train_groups"] <= set(published["train"])
    assert sides["val_groups"] <= set(published["valid"])
    assert sides["test_groups"] <= set(published["test"])
    assert [len(s) for s in sides.values()] == [375, 169, 240]  # tracks 00000-00084 present
    assert len(split["excluded_groups"]) == 66 and "jazz.00033" in split["excluded_groups"]
    assert "Kereliuk" in by_artist.split

    by_track = apps.prepare("music_genre", source="local", data_dir=folder, split="track")
    other = by_track.preprocessing["split"]
    assert [len(other[k]) for k in ("train_groups", "val_groups", "test_groups")] == [375, 169, 240]
    assert set(other["excluded_groups"]) == set(split["excluded_groups"])  # the same tracks
    assert set(other["test_groups"]) != sides["test_groups"]  # drawn at random
    with pytest.raises(DataError, match="split must be one of"):
        apps.prepare("music_genre", source="synthetic", split="album")
    synthetic = apps.prepare("music_genre", source="synthetic")
    assert "synthetic data has no artists" in synthetic.split


def _serve(folder: Path):
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=folder, **k)  # noqa: E731
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_audio_download_through_a_local_mirror(tmp_path, monkeypatch):
    sample = app_data_dir("music_genre") / "genres_original_sample"
    served = tmp_path / "served"
    served.mkdir()
    archive = served / gtzan.ARCHIVE
    with tarfile.open(archive, "w:gz", compresslevel=1) as tf:  # the original layout
        for wav in sorted(sample.glob("*/*.wav")):
            tf.add(wav, f"genres/{wav.parent.name}/{wav.name}")
    server = _serve(served)
    try:
        dead = f"http://127.0.0.1:{server.server_port}/gone/{gtzan.ARCHIVE}"
        url = f"http://127.0.0.1:{server.server_port}/{gtzan.ARCHIVE}"
        monkeypatch.setattr(
            gtzan,
            "MIRRORS",
            (download.Remote(dead, gtzan.ARCHIVE), download.Remote(url, gtzan.ARCHIVE)),
        )
        # a mirror serving another file is refused, with the mirror named
        monkeypatch.setattr(gtzan, "ARCHIVE_SHA256", "0" * 64)
        with pytest.raises(DataError, match=f"{url}: SHA-256 mismatch"):
            gtzan.download(tmp_path / "bad", progress=False)
        monkeypatch.setattr(gtzan, "ARCHIVE_SHA256", download.sha256_of(archive))

        with pytest.raises(DatasetNotFoundError, match="audio only.*Kaggle"):
            datasets.load("gtzan", source="download", kind="features")
        ds = datasets.load("gtzan", source="download", kind="audio", progress=False)
        assert ds.source == f"download:{url}"  # the first mirror is down: the second served
        assert list(ds.meta["files"]) == [f"{g}.00000.wav" for g in gtzan.GENRES]
        frame = pd.read_csv(app_data_dir("music_genre") / gtzan.FEATURES_FILE)
        lengths = dict(zip(frame["filename"], frame["length"], strict=True))
        assert list(ds.meta["lengths"]) == [lengths[f] for f in ds.meta["files"]]
        cache = tmp_path / "cache" / "music_genre"
        assert (cache / "genres" / "rock" / "rock.00000.wav").is_file()

        (tmp_path / "no_data").mkdir()
        monkeypatch.setenv("TINYML_DATA_DIR", str(tmp_path / "no_data"))
        again = datasets.load("gtzan", kind="audio", progress=False)  # auto: the cache
        assert again.source == f"local:{cache / 'genres'}"
        np.testing.assert_array_equal(again.x, ds.x)
        two = datasets.load("gtzan", kind="audio", tracks=["rock.00000", "jazz.00000.wav"])
        assert list(two.meta["files"]) == ["jazz.00000.wav", "rock.00000.wav"]
        # ten tracks are far from enough for the artist split: the error says what to do
        assert not gtzan.covers_split(ds.groups)
        with pytest.raises(DataError, match="leave a genre without tracks"):
            apps.prepare("music_genre", source="local", data_dir=cache, kind="audio")
    finally:
        server.shutdown()
        server.server_close()


def test_quick_real_audio_reads_a_few_tracks_per_genre_and_side():
    cfg = apps.app_options("music_genre", quick=True, kind="audio")
    kwargs = apps.get_app("music_genre").load_kwargs(cfg, "local")
    tracks = kwargs["tracks"]
    assert "max_tracks_per_side" not in kwargs and len(tracks) == 2 * 3 * len(gtzan.GENRES)
    assert gtzan.covers_split(tracks)  # still artist-disjoint, every genre on every side
    assert "tracks" not in apps.get_app("music_genre").load_kwargs(cfg, "synthetic")
    full = apps.app_options("music_genre", kind="audio")
    assert "tracks" not in apps.get_app("music_genre").load_kwargs(full, "local")


@pytest.mark.slow  # about 50 s on 2 busy cores: 360 clips through the MFCC front end
@pytest.mark.real_data
def test_the_mfcc_cnn_input_from_real_audio_split_by_artist(tmp_path):
    """A folder in the original layout holding the quick-mode tracks (each a link to the real
    sample WAV of its genre) goes through the real-audio path: artist split, 216 x 13 MFCCs."""
    sample = app_data_dir("music_genre") / "genres_original_sample"
    cfg = apps.app_options("music_genre", quick=True, kind="audio")
    tracks = apps.get_app("music_genre").load_kwargs(cfg, "local")["tracks"]
    for track in tracks:
        genre = track.split(".")[0]
        (tmp_path / "genres" / genre).mkdir(parents=True, exist_ok=True)
        (tmp_path / "genres" / genre / f"{track}.wav").symlink_to(
            sample / genre / f"{genre}.00000.wav"
        )
    data = apps.prepare("music_genre", source="local", data_dir=tmp_path, quick=True, kind="audio")
    assert data.input_shape == (216, 13) and data.source.startswith("local:")
    assert "by artist" in data.split
    split = data.preprocessing["split"]
    published = gtzan.artist_split()
    assert set(split["test_groups"]) <= set(published["test"])
    assert set(split["train_groups"]) <= set(published["train"])
    assert [len(split[k]) for k in ("train_groups", "val_groups", "test_groups")] == [20, 20, 20]
    assert len(data.y_train) == len(data.y_test) == 20 * 6  # six 5 s clips per 30 s track
