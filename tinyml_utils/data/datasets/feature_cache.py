"""Audio features cached on disk: decode each clip once, never hold all waveforms.

The full Speech Commands v0.02 corpus is 105k one-second clips: 6.7 GB as float32
waveforms, more than a laptop or a Colab runtime holds (and augmented copies multiply it).
A model only ever sees feature frames, so :func:`cached_features` reads the clips in
batches, computes the features of each batch and writes them into a float16 array on
disk, keyed by the front end's parameters and the clip list::

    <cache_dir>/audio_features/<key>/features.npy   (N, frames, bins) float16
                                    /clips.json     the parameters and the clip names

At most one batch of waveforms is in memory at a time. A later call with the same clips
and front end loads the array (31 x 20 float16 = 1.2 KB per clip, 130 MB for the full
corpus) without decoding a WAV. Augmentation then works on the features, batch by batch
(:class:`tinyml_utils.apps.keyword_spotting.FeatureAugmenter`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.core.paths import cache_dir as default_cache_dir
from tinyml_utils.data import features as F

#: Bump when the stored layout changes (old cache folders are then simply not found).
FORMAT_VERSION = 1
#: Clips decoded per batch (the only waveforms in memory: 256 x 64 KB = 16 MB).
BATCH = 256
SUBFOLDER = "audio_features"


def cache_key(root: Path, names: Sequence[str], params: dict[str, Any]) -> str:
    """A short hash of the data folder, the clip names and the front end's parameters."""
    digest = hashlib.sha1()
    digest.update(json.dumps(params, sort_keys=True).encode())
    digest.update(str(Path(root).resolve()).encode())
    digest.update("\n".join(names).encode())
    digest.update(f"v{FORMAT_VERSION}".encode())
    return digest.hexdigest()[:16]


def cache_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where cached features live: ``<cache_dir>/audio_features`` (default: the dataset cache,
    ``$TINYML_CACHE_DIR`` or ``~/.cache/tinyml_workbook``)."""
    return Path(cache_dir or default_cache_dir()) / SUBFOLDER


def cached_features(
    root: str | os.PathLike,
    names: Sequence[str],
    params: dict[str, Any],
    read_clip: Callable[[Path, str], np.ndarray],
    clip_samples: int = 16000,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, Path]:
    """Features ``(len(names), frames, bins)`` float16 of the clips ``names`` under ``root``.

    ``read_clip(root, name)`` returns one clip of ``clip_samples`` samples; ``params`` is a
    front-end parameter dict for :func:`tinyml_utils.data.features.audio_features`. The
    first call computes and stores them (a progress bar per batch); later calls load them.
    Returns the array and its cache folder.
    """
    from tinyml_utils.core.progress import tqdm

    root = Path(root)
    names = [str(n) for n in names]
    folder = cache_folder(cache_dir) / cache_key(root, names, params)
    target = folder / "features.npy"
    if target.exists():
        return np.load(target), folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}_", dir=folder.parent))
    try:
        frames, bins = F.audio_feature_shape(clip_samples, params)
        out = np.lib.format.open_memmap(
            tmp / "features.npy", mode="w+", dtype=np.float16, shape=(len(names), frames, bins)
        )
        with tqdm(total=len(names), desc="features (once)", disable=not progress) as bar:
            for start in range(0, len(names), BATCH):
                batch = names[start : start + BATCH]
                audio = np.stack([read_clip(root, n) for n in batch])
                out[start : start + len(batch)] = F.audio_features(audio, params)
                bar.update(len(batch))
        out.flush()
        del out
        info = {"format": FORMAT_VERSION, "features": params, "clips": names}
        (tmp / "clips.json").write_text(json.dumps(info))
        if folder.exists():  # another process stored the same features meanwhile
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return np.load(target), folder
