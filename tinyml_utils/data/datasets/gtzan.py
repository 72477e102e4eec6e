"""GTZAN music genres: 10 genres x 100 thirty-second tracks at 22,050 Hz.

Two kinds of examples:

- ``kind="features"`` (default): one row per track of the Kaggle ``features_30_sec.csv``
  (57 librosa summary features: chroma, RMS, spectral shape, tempo, 20 MFCC means and
  variances). ``x`` is float32 (N, 57), ``meta["feature_names"]`` names the columns. The
  3-second file (``features_file="features_3_sec.csv"``) works too: its 10 rows per track
  share the track's group.
- ``kind="audio"``: the WAVs of ``genres_original/<genre>/<genre>.000NN.wav`` (or the shared
  ``genres_original_sample`` folder), mono float32 at 22,050 Hz, padded/trimmed to
  ``duration`` seconds (default 30 s = 661,500 samples). ``meta["lengths"]`` keeps each file's
  true sample count. The Kaggle archive has one unreadable file (jazz.00054.wav); unreadable
  files are skipped with a warning and listed in ``meta["skipped"]``. A WAV with another
  sample rate is an error (no silent resampling).

Groups are the track (``"blues.00000"``): never one track on both sides of a split.

**The artist-disjoint split.** GTZAN's tracks are ordered by artist within a genre (blues
00000-00011 are one artist, and so on), so a random split by track puts the same artist on
both sides and measures how well a model recognises *artists*. :func:`artist_split` gives
the fault-filtered, artist-disjoint split of Kereliuk, Sturm and Larsen (2015): train 443,
valid 197, test 290 tracks; the other 70 are repeated, distorted or mislabelled (Sturm
2013) and left out. The lists ship in ``gtzan_artist_split.json`` with their source.

**The audio without a Kaggle account.** :func:`download` fetches the original archive
``genres.tar.gz`` (1.2 GB: ``genres/<genre>/<genre>.000NN.wav``) from a public mirror and
checks its SHA-256. The Kaggle ``features_30_sec.csv`` is not in it (Kaggle only).
"""

from __future__ import annotations

import functools
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tinyml_utils.core.errors import DataError, DatasetNotFoundError
from tinyml_utils.data.datasets.base import (
    Dataset,
    Location,
    check_source,
    download_cache_folder,
    local_source,
    read_csv_checked,
    resolve_path,
)
from tinyml_utils.data.datasets.download import COMPLETE_MARKER, Remote, download_dataset

NAME = "gtzan"
SAMPLE_RATE = 22050
GENRES = [
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
]
KINDS = ("features", "audio")
FEATURES_FILE = "features_30_sec.csv"
AUDIO_FOLDERS = ("genres_original", "genres_original_sample", "genres")
NON_FEATURE_COLUMNS = ("filename", "length", "label")
KAGGLE_DATASET = "andradaolteanu/gtzan-dataset-music-genre-classification"
_TRACK_RE = re.compile(r"^([a-z]+)\.(\d{5})")

#: The original archive (genres/<genre>/<genre>.000NN.wav, 22,050 Hz mono 16-bit WAV), tried
#: in this order. The SHA-256 is the one torchaudio (datasets/gtzan.py) pins for the original
#: host's file; the mirror is the marsyas organisation's copy on the Hugging Face hub
#: (public, no account). Neither could be fetched from the machine this was written on.
ARCHIVE = "genres.tar.gz"
ARCHIVE_SHA256 = "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"
MIRRORS = (
    Remote(
        "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz", ARCHIVE
    ),
    Remote("http://opihi.cs.uvic.ca/sound/genres.tar.gz", ARCHIVE),
)
SPLIT_FILE = Path(__file__).with_name("gtzan_artist_split.json")
SPLIT_SIDES = ("train", "valid", "test")

LOCATION = Location(
    name=NAME,
    folder="music_genre",
    layout=(
        f"music_genre/{FEATURES_FILE} (columns filename, length, 57 features, label) and/or "
        "music_genre/genres_original/<genre>/<genre>.000NN.wav (22,050 Hz mono); the Kaggle "
        "zip's Data/ folder works as is"
    ),
    get_it=(
        "the audio (1.2 GB, no account): `tinyml data download gtzan` or "
        "datasets.load('gtzan', source='download', kind='audio'); the features CSV is on "
        "Kaggle only and needs a free account: `pip install kaggle`, put your API token in "
        f"~/.kaggle/kaggle.json, then `kaggle datasets download -d {KAGGLE_DATASET} "
        "-p <folder> --unzip` and pass data_dir=<folder>"
    ),
)

DESCRIPTION = f"""\
GTZAN (G. Tzanetakis and P. Cook, "Musical genre classification of audio signals", IEEE
Trans. Speech and Audio Processing, 2002): 1,000 thirty-second clips, 100 per genre, 10 genres
(blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, rock), 22,050 Hz mono.
Kaggle's "GTZAN Dataset - Music Genre Classification" (Andrada Olteanu) adds per-track
librosa features (features_30_sec.csv). Tracks are ordered by artist within a genre: use
the artist-disjoint split (artist_split(): Kereliuk, Sturm and Larsen, "Deep learning and
music adversaries", IEEE Trans. Multimedia 2015), not a random split by track.
License: none stated; the clips were gathered without copyright permission. Research and
education use only; do not redistribute.
Get it: {LOCATION.get_it}; layout: {LOCATION.layout}."""


def class_names(**_options) -> list[str]:
    """The 10 genres, in alphabetical order (the class index order)."""
    return list(GENRES)


def track_of(file_name: str) -> str:
    """ "blues.00000.wav" or "blues.00000.3.wav" -> "blues.00000" (the split group)."""
    m = _TRACK_RE.match(Path(file_name).name)
    return m.group(0) if m else Path(file_name).name


# ---------------------------------------------------------------------------------------
# The artist-disjoint, fault-filtered split (Kereliuk et al. 2015)
# ---------------------------------------------------------------------------------------


def track_name(number: int) -> str:
    """An upstream split-file number (1-based, into the 1,000 files sorted by name) -> track.

    1 -> "blues.00000", 100 -> "blues.00099", 1000 -> "rock.00099".
    """
    if not 1 <= int(number) <= 100 * len(GENRES):
        raise DataError(f"split number {number} is outside 1..{100 * len(GENRES)}.")
    n = int(number) - 1
    return f"{GENRES[n // 100]}.{n % 100:05d}"


@functools.cache
def artist_split() -> dict[str, tuple[str, ...]]:
    """{"train": tracks, "valid": tracks, "test": tracks} of the fault-filtered split.

    No artist is on two sides; 70 faulty tracks are on none. Source and citation:
    ``SPLIT_FILE`` ("_about", "citation", "source").
    """
    table = json.loads(SPLIT_FILE.read_text(encoding="utf-8"))
    return {side: tuple(track_name(n) for n in table[side]) for side in SPLIT_SIDES}


def split_side(tracks) -> np.ndarray:
    """The side ("train", "valid", "test" or "" for a left-out track) of each track name."""
    side_of = {t: side for side, names in artist_split().items() for t in names}
    return np.array([side_of.get(track_of(str(t)), "") for t in np.asarray(tracks)])


def covers_split(tracks) -> bool:
    """True when every genre has tracks on all three sides of the artist split (enough real
    audio to train and test on held-out artists; the 10-track sample is not)."""
    tracks = np.asarray(tracks)
    sides = split_side(tracks)
    genres = np.array([track_of(str(t)).split(".")[0] for t in tracks])
    return all(((genres == g) & (sides == side)).any() for g in GENRES for side in SPLIT_SIDES)


# ---------------------------------------------------------------------------------------
# Finding and reading the real files
# ---------------------------------------------------------------------------------------


def _candidates(path: Path) -> list[Path]:
    """path, path/Data (the Kaggle zip) and path's sub-folders."""
    out = [path, path / "Data"]
    if path.is_dir():
        out += sorted(p for p in path.iterdir() if p.is_dir())
    return out


def find_features_file(path: Path, features_file: str = FEATURES_FILE) -> Path | None:
    if path.is_file():
        return path if path.suffix.lower() == ".csv" else None
    for folder in _candidates(path):
        if (folder / features_file).is_file():
            return folder / features_file
    return None


def find_audio_folder(path: Path) -> Path | None:
    """The folder holding <genre>/ sub-folders of WAVs."""
    if path.is_file():
        return None
    for folder in _candidates(path):
        for name in AUDIO_FOLDERS:
            if (folder / name).is_dir():
                return folder / name
        if any((folder / g).is_dir() for g in GENRES):
            return folder
    return None


def read_features(path: Path) -> Dataset:
    """A Kaggle GTZAN features CSV as float32 (N, n_features) with genre labels."""
    # every problem names the file and its line (a NaN, a row cut short, a corrupt .gz)
    header = read_csv_checked(path, columns=("filename", "label"))
    numeric = [c for c in header.columns if c not in NON_FEATURE_COLUMNS]
    try:
        frame = read_csv_checked(path, columns=("filename", "label"), numeric=numeric)
    except DataError as exc:  # name the track of the bad line too
        found = re.search(r", line (\d+):", str(exc))
        row = int(found.group(1)) - 2 if found else -1
        if 0 <= row < len(header):
            track = str(header["filename"].iloc[row]).removesuffix(".wav")
            raise DataError(f"{exc} (track {track})") from exc
        raise
    missing = [c for c in ("filename", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing columns {missing} (found {list(frame.columns)[:6]}...). Fix: use "
            f"the Kaggle {FEATURES_FILE}, which has filename, length, 57 features and label."
        )
    if frame.empty:
        raise DataError(f"{path}: has no data rows. Fix: use the Kaggle {FEATURES_FILE}.")
    unknown = sorted(set(frame["label"]) - set(GENRES))
    if unknown:
        raise DataError(f"{path}: unknown genre labels {unknown}; expected {GENRES}.")
    feature_names = [c for c in frame.columns if c not in NON_FEATURE_COLUMNS]
    features = frame[feature_names]
    bad = [c for c in feature_names if not pd.api.types.is_numeric_dtype(features[c])]
    if bad or features.isna().any().any():
        raise DataError(
            f"{path}: non-numeric or empty feature values in columns "
            f"{bad or list(features.columns[features.isna().any()])}. Fix: use the original file."
        )
    files = frame["filename"].astype(str).to_numpy()
    return Dataset(
        name=NAME,
        x=features.to_numpy(dtype=np.float32),
        y=np.array([GENRES.index(g) for g in frame["label"]], dtype=np.int64),
        groups=np.array([track_of(f) for f in files]),
        class_names=class_names(),
        source=local_source(path),
        description=DESCRIPTION,
        sample_rate=None,
        meta={
            "kind": "features",
            "feature_names": feature_names,
            "files": files,
            "lengths": frame["length"].to_numpy() if "length" in frame else None,
            "per_example": ("files", "lengths") if "length" in frame else ("files",),
            "group_name": "track",
        },
    )


def read_audio(folder: Path, duration: float = 30.0, progress: bool = True, tracks=None) -> Dataset:
    """Every <genre>/<genre>.NNNNN.wav under ``folder`` (only ``tracks``, names such as
    "blues.00000", if given), padded/trimmed to ``duration`` s."""
    import soundfile as sf

    from tinyml_utils.core.progress import tqdm

    n_samples = int(round(duration * SAMPLE_RATE))
    files = [
        (genre, f)
        for genre in GENRES
        if (folder / genre).is_dir()
        for f in sorted((folder / genre).iterdir())
        if f.suffix.lower() in (".wav", ".au")
    ]
    if tracks is not None:
        wanted = {track_of(str(t)) for t in tracks}
        files = [(genre, f) for genre, f in files if track_of(f.name) in wanted]
    if not files:
        raise DataError(
            f"{folder}: no <genre>/*.wav files (genres: {GENRES}). Fix: arrange the files as "
            f"{LOCATION.layout}."
        )
    xs, ys, names, lengths, skipped = [], [], [], [], []
    for genre, f in tqdm(files, desc="gtzan audio", disable=not progress):
        try:
            audio, rate = sf.read(str(f), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            warnings.warn(f"skipping unreadable audio file {f}: {exc}", stacklevel=2)
            skipped.append(str(f))
            continue
        if rate != SAMPLE_RATE:
            raise DataError(
                f"{f}: sample rate {rate} Hz, expected {SAMPLE_RATE} Hz. Fix: this loader does "
                f"not resample; use the original GTZAN files or convert them to 22,050 Hz."
            )
        audio = audio.mean(axis=1)
        lengths.append(len(audio))
        audio = (
            audio[:n_samples]
            if len(audio) >= n_samples
            else np.pad(audio, (0, n_samples - len(audio)))
        )
        xs.append(audio)
        ys.append(GENRES.index(genre))
        names.append(f.name)
    if not xs:
        raise DataError(f"{folder}: none of the {len(files)} audio files could be read.")
    return Dataset(
        name=NAME,
        x=np.stack(xs).astype(np.float32),
        y=np.array(ys, dtype=np.int64),
        groups=np.array([track_of(n) for n in names]),
        class_names=class_names(),
        source=local_source(folder),
        description=DESCRIPTION,
        sample_rate=float(SAMPLE_RATE),
        meta={
            "kind": "audio",
            "files": np.array(names),
            "lengths": np.array(lengths, dtype=np.int64),
            "per_example": ("files", "lengths"),
            "group_name": "track",
            "skipped": skipped,
            "duration": duration,
        },
    )


def read_path(
    path: str | os.PathLike,
    kind: str = "features",
    features_file: str = FEATURES_FILE,
    duration: float = 30.0,
    progress: bool = True,
    tracks=None,
) -> Dataset:
    """Read features (a CSV file or a folder holding it) or audio (only ``tracks``, if
    given) from ``path``."""
    path = Path(path)
    if kind == "features":
        found = find_features_file(path, features_file)
        if found is None:
            raise DatasetNotFoundError(
                f"no {features_file} in {path} (nor in its Data/ or sub-folders). Fix: put the "
                f"Kaggle {features_file} there, or pass its path as data_dir. {LOCATION.get_it}."
            )
        return read_features(found)
    folder = find_audio_folder(path)
    if folder is None:
        raise DatasetNotFoundError(
            f"no genres_original/<genre>/ folders of WAVs in {path}. Fix: arrange the files as "
            f"{LOCATION.layout}. {LOCATION.get_it}."
        )
    return read_audio(folder, duration=duration, progress=progress, tracks=tracks)


# ---------------------------------------------------------------------------------------
# Synthetic stand-in
# ---------------------------------------------------------------------------------------

#: the 57 feature columns of features_30_sec.csv, in file order
FEATURE_NAMES = (
    [
        f"{base}_{stat}"
        for base in (
            "chroma_stft",
            "rms",
            "spectral_centroid",
            "spectral_bandwidth",
            "rolloff",
            "zero_crossing_rate",
            "harmony",
            "perceptr",
        )
        for stat in ("mean", "var")
    ]
    + ["tempo"]
    + [f"mfcc{i}_{stat}" for i in range(1, 21) for stat in ("mean", "var")]
)


def synthetic(
    seed: int = 0,
    kind: str = "features",
    tracks_per_genre: int | None = None,
    duration: float = 30.0,
) -> Dataset:
    """A learnable stand-in with the real shapes.

    features: each genre has its own mean for every feature (plus per-track noise), so a
    small dense network separates them; 30 tracks per genre by default (300 rows).
    audio: each genre is a chord of genre-specific tones with a genre-specific beat; 2 tracks
    per genre by default (20 x 661,500 samples, 53 MB), because real tracks are 30 s long.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    per_genre = tracks_per_genre or (30 if kind == "features" else 2)
    genres = np.repeat(np.arange(len(GENRES)), per_genre)
    names = [f"{GENRES[g]}.{i % per_genre:05d}.wav" for i, g in enumerate(genres)]
    description = "Synthetic stand-in for GTZAN (not real music).\n" + DESCRIPTION
    if kind == "features":
        centres = rng.normal(0, 1, (len(GENRES), len(FEATURE_NAMES)))
        scale = np.abs(rng.normal(100, 50, len(FEATURE_NAMES))) + 1  # real features vary a lot
        x = (centres[genres] + rng.normal(0, 0.8, (len(genres), len(FEATURE_NAMES)))) * scale
        meta = {"kind": "features", "feature_names": list(FEATURE_NAMES)}
        sample_rate = None
    else:
        n = int(round(duration * SAMPLE_RATE))
        t = np.arange(n) / SAMPLE_RATE
        x = np.empty((len(genres), n), dtype=np.float32)
        for i, g in enumerate(genres):
            base = 110.0 * 2 ** (g / 4)  # a different root note per genre
            bpm = 70 + 12 * g
            beat = 0.5 + 0.5 * (np.sin(2 * np.pi * bpm / 60 * t) > 0.7)
            tone = sum(
                np.sin(2 * np.pi * base * k * rng.uniform(0.99, 1.01) * t) / k for k in (1, 2, 3)
            )
            x[i] = 0.2 * beat * tone + rng.normal(0, 0.02, n)
        meta = {"kind": "audio", "lengths": np.full(len(genres), n), "duration": duration}
        sample_rate = float(SAMPLE_RATE)
    meta.update(
        files=np.array(names),
        per_example=("files", "lengths") if kind == "audio" else ("files",),
        group_name="track",
        seed=seed,
    )
    return Dataset(
        name=NAME,
        x=np.asarray(x, dtype=np.float32),
        y=genres.astype(np.int64),
        groups=np.array([track_of(n) for n in names]),
        class_names=class_names(),
        source="synthetic",
        description=description,
        sample_rate=sample_rate,
        meta=meta,
    )


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------


def download(dest: str | os.PathLike | None = None, progress: bool = True, **_options) -> Path:
    """The audio archive from the first mirror that answers, SHA-256 checked and extracted
    into ``dest`` (default ``<cache_dir>/music_genre``): ``dest/genres/<genre>/*.wav``.

    A mirror that cannot be reached or serves another file (checksum mismatch) is skipped;
    when all fail, the error lists why. The features CSV is not in the archive (Kaggle only).
    """
    folder = Path(dest) if dest is not None else download_cache_folder(LOCATION)
    failures: list[tuple[str, Exception]] = []
    for remote in MIRRORS:
        try:
            download_dataset(
                (remote,), folder, sha256={remote.url: ARCHIVE_SHA256}, progress=progress
            )
        except (DatasetNotFoundError, DataError) as exc:
            failures.append((remote.url, exc))
            continue
        return folder
    why = "; ".join(f"{url}: {str(exc).splitlines()[0]}" for url, exc in failures)
    message = (
        f"could not download the GTZAN audio from any mirror ({why}). Fix: check your "
        f"connection, or get the files another way: {LOCATION.get_it}."
    )
    if any(isinstance(exc, DataError) for _, exc in failures):
        raise DataError(message)  # a mirror served another file: say so, do not fall back
    raise DatasetNotFoundError(message)


def _downloaded_url(folder: Path) -> str:
    marker = folder / COMPLETE_MARKER
    lines = marker.read_text(encoding="utf-8").split() if marker.exists() else []
    return lines[0] if lines else MIRRORS[0].url


def load(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    kind: str = "features",
    features_file: str = FEATURES_FILE,
    duration: float = 30.0,
    seed: int = 0,
    progress: bool = True,
    tracks=None,
    **synthetic_options,
) -> Dataset:
    """GTZAN features or audio (see the module docstring). ``data_dir`` may be the folder or,
    for features, the CSV file itself. ``tracks`` (names such as "blues.00000") reads only
    those audio files (quick runs, a subset). ``seed`` and ``synthetic_options``
    (tracks_per_genre) only affect ``source="synthetic"``."""
    check_source(source)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if source == "synthetic":
        return synthetic(seed=seed, kind=kind, duration=duration, **synthetic_options)
    if source == "download":
        if kind == "features":
            raise DatasetNotFoundError(
                f"the public GTZAN archive holds the audio only; {FEATURES_FILE} is Kaggle's. "
                "Fix: load kind='audio' (downloads 1.2 GB, no account), or get the CSV: "
                f"{LOCATION.get_it}."
            )
        folder = download(progress=progress)
        ds = read_path(folder, kind="audio", duration=duration, progress=progress, tracks=tracks)
        ds.source = f"download:{_downloaded_url(folder)}"
        return ds

    def looks_right(p: Path) -> bool:
        if kind == "features":
            return find_features_file(p, features_file) is not None
        return find_audio_folder(p) is not None

    path = resolve_path(LOCATION, source, data_dir, looks_right)
    return read_path(
        path,
        kind=kind,
        features_file=features_file,
        duration=duration,
        progress=progress,
        tracks=tracks if kind == "audio" else None,
    )
