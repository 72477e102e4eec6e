"""The audio front end on a device: ``firmware/audio/tinyml_frontend.{h,c}`` plus a header of
constants generated from the recipe the model was trained with.

A keyword-spotting model only works on a microcontroller if the device computes the same
log-mel (or MFCC) features as training did (:mod:`tinyml_utils.data.features`), normalises them
with the same training statistics and quantizes them like the model's input tensor. The C
code is generic; everything specific to a model is data, written here from
``models/<app>/preprocessing.json`` and the model file, never copied by hand:

* the Hann window (scipy's periodic ``hann``, float32, exactly the training window),
* the FFT twiddle factors, the mel filterbank (only each filter's non-zero run),
  the orthonormal DCT-II matrix for MFCCs,
* the per-feature mean / std of the training split, the model input's scale / zero point.

::

    from tinyml_utils.deploy.frontend import write_frontend
    write_frontend("firmware/arduino/keyword_spotting", "keyword_spotting",
                   "models/keyword_spotting/preprocessing.json",
                   "models/keyword_spotting/model_int8.tflite")
    # -> tinyml_frontend.h/.c (copies) + keyword_spotting_frontend.h:
    #    static const tml_frontend keyword_spotting_frontend = {...};
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.core.paths import repo_root, shared_data_dir
from tinyml_utils.data import datasets
from tinyml_utils.data import features as F
from tinyml_utils.data.datasets import speech_commands
from tinyml_utils.deploy.identifiers import c_identifier
from tinyml_utils.deploy.toolchains import require_tools
from tinyml_utils.tflite.interpreters import ModelLike, quantize
from tinyml_utils.tflite.reader import model_info

#: The shared C sources (used by the sketches and by the host tests).
FRONTEND_DIR = repo_root() / "firmware" / "audio"
FRONTEND_FILES = ("tinyml_frontend.h", "tinyml_frontend.c")


def load_preprocessing(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A preprocessing recipe: a dict, a preprocessing.json, or the folder / model file next
    to which it lies (``models/<app>/model_int8.tflite`` -> ``models/<app>/preprocessing.json``)."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / "preprocessing.json"
    elif path.suffix != ".json":
        path = path.parent / "preprocessing.json"
    if not path.is_file():
        raise DataError(
            f"{path}: no preprocessing.json. The device must preprocess exactly as training "
            "did: train the model with `tinyml train-reference`, which writes it next to "
            "model_int8.tflite, or pass the recipe dict (PreparedData.preprocessing)."
        )
    return json.loads(path.read_text())


@dataclass
class FrontendSpec:
    """The front end of one model: feature parameters and the shapes they give."""

    params: dict[str, Any]  # tinyml_utils.data.features.AUDIO_PRESETS-style dict
    clip_samples: int
    n_frames: int
    bins: int
    mean: np.ndarray
    std: np.ndarray
    input_scale: float
    input_zero_point: int

    @property
    def n_features(self) -> int:
        return self.n_frames * self.bins


def frontend_spec(preprocessing: str | Path | dict[str, Any], model: ModelLike) -> FrontendSpec:
    """Check the recipe against the model and gather what the C front end needs."""
    pre = load_preprocessing(preprocessing)
    params = dict(pre.get("features") or {})
    if params.get("kind") not in ("log_mel", "mfcc"):
        raise DataError(
            "the recipe has no audio features (features.kind 'log_mel' or 'mfcc'); the C "
            "front end is for audio models such as keyword_spotting."
        )
    n_fft = int(params["n_fft"])
    if n_fft < 4 or n_fft & (n_fft - 1):
        raise DataError(f"n_fft = {n_fft}: the C front end's FFT needs a power of two.")
    if int(params.get("frame_length") or n_fft) > n_fft:
        raise DataError("frame_length must not exceed n_fft.")
    clip = int(
        pre.get("clip_samples")
        or round(float(pre.get("clip_seconds", 1.0)) * float(params["sample_rate"]))
    )
    n_frames, bins = F.audio_feature_shape(clip, params)
    norm = pre.get("normalization") or {}
    mean = np.asarray(norm.get("mean", np.zeros(bins)), np.float32).reshape(-1)
    std = np.asarray(norm.get("std", np.ones(bins)), np.float32).reshape(-1)
    if len(mean) != bins or len(std) != bins:
        raise DataError(f"normalization has {len(mean)} values, the features {bins} per frame.")
    info = model_info(model)
    tin = info.tensor(info.inputs[0])
    if int(np.prod(tin.shape)) != n_frames * bins:
        raise DataError(
            f"the model input {tuple(tin.shape)} does not hold {n_frames} frames x {bins} "
            "features: the recipe and the model do not belong together."
        )
    if tin.dtype != "int8" or not len(tin.scales):
        raise DataError("the model input is not int8-quantized; export the int8 model.")
    return FrontendSpec(
        params,
        clip,
        n_frames,
        bins,
        mean,
        std,
        float(tin.scales[0]),
        int(tin.zero_points[0]),
    )


def _floats(values) -> str:
    vals = [float(np.float32(v)) for v in np.asarray(values).reshape(-1)]
    text = [
        f"{v:.9g}f" if ("." in f"{v:.9g}" or "e" in f"{v:.9g}") else f"{v:.9g}.0f" for v in vals
    ]
    rows = [", ".join(text[i : i + 6]) for i in range(0, len(text), 6)]
    return "{\n    " + ",\n    ".join(rows) + "\n}"


def _ints(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in np.asarray(values).reshape(-1)) + "}"


def frontend_tables(spec: FrontendSpec) -> dict[str, np.ndarray]:
    """Window, twiddles, sparse mel filters and DCT matrix, as float32 / int16 arrays."""
    from scipy.fft import dct
    from scipy.signal.windows import hann

    p = spec.params
    n_fft = int(p["n_fft"])
    frame = int(p.get("frame_length") or n_fft)
    k = np.arange(n_fft // 2)
    twiddle = np.stack([np.cos(2 * np.pi * k / n_fft), np.sin(2 * np.pi * k / n_fft)], axis=1)
    fb = F.mel_filterbank(
        float(p["sample_rate"]), n_fft, int(p["n_mels"]), float(p.get("fmin", 0.0)), p.get("fmax")
    )
    starts, lens, weights = [], [], []
    for row in fb:
        nz = np.flatnonzero(row)
        lo, hi = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)
        starts.append(lo)
        lens.append(hi - lo)
        weights.append(row[lo:hi])
    tables = {
        "window": hann(frame, sym=False).astype(np.float32),
        "twiddle": twiddle.astype(np.float32),
        "mel_start": np.asarray(starts, np.int16),
        "mel_len": np.asarray(lens, np.int16),
        "mel_weights": np.concatenate(weights).astype(np.float32),
    }
    if p["kind"] == "mfcc":
        n_mels = int(p["n_mels"])
        matrix = dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[: int(p["n_mfcc"])]
        tables["dct"] = matrix.astype(np.float32)
    return tables


def frontend_header(name: str, spec: FrontendSpec) -> str:
    """``<name>_frontend.h``: the tables and ``static const tml_frontend <name>_frontend``."""
    prefix = c_identifier(name)
    p = spec.params
    t = frontend_tables(spec)
    up = prefix.upper()
    eps = float(p.get("eps", 1e-6))
    has_dct = "dct" in t
    lines = [
        f"/* {prefix}_frontend.h - generated by tinyml_utils.deploy.frontend (do not edit).",
        f" * Recipe: {json.dumps(p, sort_keys=True)}",
        f" * {spec.clip_samples} samples -> {spec.n_frames} frames x {spec.bins} features ->",
        f" * int8 (scale {spec.input_scale:.9g}, zero point {spec.input_zero_point}). */",
        f"#ifndef {up}_FRONTEND_H",
        f"#define {up}_FRONTEND_H",
        "",
        "#include <stddef.h>",
        "",
        '#include "tinyml_frontend.h"',
        "",
        f"#define {up}_CLIP_SAMPLES {spec.clip_samples}",
        f"#define {up}_FEATURES {spec.n_features}",
        f"#define {up}_FRONTEND_WORK TML_FRONTEND_WORK({int(p['n_fft'])}, {int(p['n_mels'])})",
        "",
        f"static const float {prefix}_fe_window[] = {_floats(t['window'])};",
        f"static const float {prefix}_fe_twiddle[] = {_floats(t['twiddle'])};",
        f"static const int16_t {prefix}_fe_mel_start[] = {_ints(t['mel_start'])};",
        f"static const int16_t {prefix}_fe_mel_len[] = {_ints(t['mel_len'])};",
        f"static const float {prefix}_fe_mel_weights[] = {_floats(t['mel_weights'])};",
    ]
    if has_dct:
        lines.append(f"static const float {prefix}_fe_dct[] = {_floats(t['dct'])};")
    lines += [
        f"static const float {prefix}_fe_mean[] = {_floats(spec.mean)};",
        f"static const float {prefix}_fe_std[] = {_floats(spec.std)};",
        "",
        f"static const tml_frontend {prefix}_frontend = {{",
        f"    {int(p['sample_rate'])}, {spec.clip_samples},",
        f"    {int(p.get('frame_length') or p['n_fft'])}, {int(p['hop_length'])}, "
        f"{int(p['n_fft'])}, {int(p['n_mels'])}, {int(p.get('n_mfcc', 0)) if has_dct else 0},",
        f"    {int(bool(p.get('center')))}, {spec.n_frames},",
        f"    {eps!r}f,",
        f"    {prefix}_fe_window, {prefix}_fe_twiddle,",
        f"    {prefix}_fe_mel_start, {prefix}_fe_mel_len, {prefix}_fe_mel_weights,",
        f"    {prefix + '_fe_dct' if has_dct else 'NULL'},",
        f"    {prefix}_fe_mean, {prefix}_fe_std,",
        f"    {spec.input_scale!r}f, {spec.input_zero_point}",
        "};",
        "",
        f"#endif /* {up}_FRONTEND_H */",
        "",
    ]
    if not math.isfinite(spec.input_scale) or spec.input_scale <= 0:
        raise DataError(f"model input scale {spec.input_scale} is not a positive number.")
    return "\n".join(lines)


def write_frontend(
    out_dir: str | Path,
    name: str,
    preprocessing: str | Path | dict[str, Any],
    model: ModelLike,
    copy_sources: bool = True,
) -> list[Path]:
    """Write ``<name>_frontend.h`` (+ copies of the shared C sources) into ``out_dir``."""
    spec = frontend_spec(preprocessing, model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = out / f"{c_identifier(name)}_frontend.h"
    header.write_text(frontend_header(name, spec))
    files = [header]
    if copy_sources:
        for f in FRONTEND_FILES:
            shutil.copyfile(FRONTEND_DIR / f, out / f)
            files.append(out / f)
    return files


_HOST_MAIN = r"""
#include <stdio.h>
#include "app_frontend.h"
int main(int argc, char **argv) {
  static int16_t pcm[APP_CLIP_SAMPLES];
  static float feats[APP_FEATURES], work[APP_FRONTEND_WORK];
  static int8_t q[APP_FEATURES];
  FILE *fin = fopen(argv[1], "rb"), *ff = fopen(argv[2], "wb"), *fq = fopen(argv[3], "wb");
  if (argc != 4 || !fin || !ff || !fq) return 2;
  while (fread(pcm, 2, APP_CLIP_SAMPLES, fin) == APP_CLIP_SAMPLES) {
    tml_frontend_features(&app_frontend, pcm, feats, work);
    tml_frontend_quantize(&app_frontend, feats, q, APP_FEATURES);
    fwrite(feats, 4, APP_FEATURES, ff);
    fwrite(q, 1, APP_FEATURES, fq);
  }
  fclose(fin);
  fclose(ff);
  fclose(fq);
  return 0;
}
"""


def host_features(
    work_dir: str | Path,
    preprocessing: str | Path | dict[str, Any],
    model: ModelLike,
    pcm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The C front end, compiled for this PC with gcc, run on int16 clips ``(N, samples)``.

    Returns (features float32 ``(N, n_features)``, model inputs int8 ``(N, n_features)``):
    what the board computes, to compare with :func:`python_features`.
    """
    require_tools("gcc")
    work = Path(work_dir)
    write_frontend(work, "app", preprocessing, model)
    (work / "main.c").write_text(_HOST_MAIN)
    exe = work / "frontend_host"
    sources = [str(work / "main.c"), str(work / "tinyml_frontend.c")]
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{work}"]
    subprocess.run(["gcc", *flags, *sources, "-lm", "-o", str(exe)], check=True)
    np.ascontiguousarray(pcm, "<i2").tofile(work / "pcm.bin")
    out_f, out_q = work / "features.bin", work / "input.bin"
    subprocess.run([str(exe), str(work / "pcm.bin"), str(out_f), str(out_q)], check=True)
    n = len(pcm)
    return np.fromfile(out_f, np.float32).reshape(n, -1), np.fromfile(out_q, np.int8).reshape(n, -1)


def python_features(
    preprocessing: str | Path | dict[str, Any], model: ModelLike, pcm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What training computes for int16 clips: features of ``pcm / 32768`` (soundfile's
    float), normalised, flattened, and quantized as the model input."""
    pre = load_preprocessing(preprocessing)
    spec = frontend_spec(pre, model)
    x = pcm.astype(np.float32) / np.float32(32768)
    feats = F.normalize(F.audio_features(x, pre["features"]), pre["normalization"])
    feats = feats.reshape(len(pcm), -1)
    return feats, quantize(feats, np.int8, spec.input_scale, spec.input_zero_point)


def example_pcm(n: int = 20, real: bool = True, word: str = "on") -> tuple[np.ndarray, str]:
    """``n`` 1 s clips of 16 kHz int16 PCM to feed the C front end, and what they are: real
    ``word`` clips from the keyword-spotting data folder when ``real`` and it is present,
    else synthetic clips."""
    root = shared_data_dir()
    folder = root / "keyword_spotting" / word if root is not None else None
    if real and folder is not None and folder.is_dir():
        wavs = sorted(folder.glob("*.wav"))[:n]
        clips = [speech_commands.fit_length(speech_commands.read_wav(w)) for w in wavs]
        # soundfile reads int16 PCM as value / 32768: this gets the file's samples back exactly
        pcm = np.clip(np.round(np.stack(clips) * 32768), -32768, 32767).astype(np.int16)
        return pcm, f"{len(pcm)} real '{word}' WAVs"
    x = datasets.load("speech_commands", source="synthetic").x[:n]
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16), f"{len(x)} synthetic clips"
