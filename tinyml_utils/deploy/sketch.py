"""TFLM Arduino sketches for the Arduino Nano 33 BLE Sense, one folder per app.

:func:`write_sketch` writes ``<out>/<app>/<app>.ino`` plus the model array of
:mod:`~tinyml_utils.deploy.c_array`. The sketch uses the TensorFlow Lite Micro Arduino
library (``Chirale_TensorFlowLite``: the official ``Arduino_TensorFlowLite`` was withdrawn
from the Library Manager and its repository archived), registers exactly the model's ops
(:mod:`~tinyml_utils.deploy.op_resolver`) and sizes the tensor arena from the measured TFLM
arena plus :data:`ARENA_MARGIN`.

The input code repeats, on the board, what training did to the data (the recipe in
``models/<app>/preprocessing.json``, read here: no constant is typed by hand):

* **motionsense**: the LSM9DS1 IMU sampled at the recipe's rate (50 Hz), converted to Core
  Motion's conventions (gravity from a low-pass filter of the accelerometer, user
  acceleration = the rest, both with Apple's sign; rotation rate in rad/s), the recipe's
  channels derived per sample exactly as :func:`tinyml_utils.data.features.motion_channels`
  (e.g. acceleration along / across gravity), a sliding window of ``window`` samples every
  ``hop``, normalised with the training mean / std.
* **carsensor**: the accelerometer (m/s^2) at the recipe's rate, a sliding window cut into
  blocks, per block the four log spreads of :func:`tinyml_utils.apps.carsensor.block_features`
  (or, for a raw-window recipe, the three axes with each window's mean removed), normalised.
* **keyword_spotting**: the PDM microphone at 16 kHz; the last second goes through the C
  log-mel front end ``firmware/audio/tinyml_frontend.c`` (copied into the sketch, with its
  generated constants :mod:`~tinyml_utils.deploy.frontend`), which equals the training
  features (tested on the host).
* **music_genre**: the 57 track features arrive over the serial port (they are computed from
  a 30 s recording on a PC), normalised with the training statistics.

Model inputs are quantized like :func:`tinyml_utils.tflite.interpreters.quantize`
(``rintf``: halves to even, as numpy). These sketches cannot be compiled here (the TFLM
library and the nRF52 core are not Debian packages); the tests compile them against stub
headers (syntax and types), check the registered ops and that the arena allocates in the
tflite-micro runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_utils.apps import APPS, get_app
from tinyml_utils.apps.carsensor import EPS as EPS_LOG
from tinyml_utils.core.errors import DataError, UnsupportedOnMicroError
from tinyml_utils.deploy import c_array, carsensor_input, frontend, op_resolver
from tinyml_utils.deploy.target_arena import target_arena
from tinyml_utils.tflite.interpreters import ModelLike, load_model_bytes
from tinyml_utils.tflite.reader import model_info

#: Extra arena on top of TFLM's measured minimum: the Arduino library's TFLM is another
#: commit, whose kernels may ask for other scratch buffers than the ones measured.
ARENA_MARGIN = 0.25
ARENA_MIN_MARGIN = 1024

LIBRARY = "Chirale_TensorFlowLite"

#: Low-pass time constant (s) that separates gravity from user acceleration on the device.
GRAVITY_TAU_S = 0.5
STANDARD_GRAVITY = 9.80665  # m/s^2 per g


@dataclass
class SketchFiles:
    """What :func:`write_sketch` wrote and the numbers it used."""

    folder: Path
    ino: Path
    model_header: Path
    model_source: Path
    ops: list[str]
    measured_arena: int | None  # the 64-bit host runtime's minimum
    arena_bytes: int  # kArenaBytes
    extra_files: list[Path]
    preprocessing: str  # where the normalisation came from
    target_arena: int | None = None  # the minimum on a 32-bit Cortex-M4F, when measured


def arena_with_margin(measured: int) -> int:
    """Measured arena + max(25 %, 1 KB), rounded up to 16 bytes."""
    extra = max(int(measured * ARENA_MARGIN), ARENA_MIN_MARGIN)
    return -(-(measured + extra) // 16) * 16


def _floats(values) -> str:
    out = []
    for v in np.asarray(values, np.float64).reshape(-1):
        f = float(np.float32(v))
        text = f"{f:.9g}"
        out.append(text + ("f" if ("." in text or "e" in text) else ".0f"))
    return ", ".join(out)


def _normalization(pre: dict[str, Any] | None, n: int) -> tuple[str, str, str]:
    """(mean, std, source comment) as C lists of ``n`` values."""
    norm = (pre or {}).get("normalization")
    if not norm:
        return (
            _floats(np.zeros(n)),
            _floats(np.ones(n)),
            "NO preprocessing.json was given: mean 0 / std 1 (identity). Export again with "
            "the model's preprocessing.json, or the model sees unnormalised data.",
        )
    mean, std = np.asarray(norm["mean"]).reshape(-1), np.asarray(norm["std"]).reshape(-1)
    if len(mean) != n or len(std) != n:
        raise DataError(
            f"preprocessing.json normalises {len(mean)} features, the model input has {n} per "
            "step: the recipe and the model do not belong together."
        )
    return _floats(mean), _floats(std), "from preprocessing.json (training split statistics)"


# ----------------------------------------------------------------------------- per sensor

#: Core Motion channel -> C expression over g[3] (gravity), u[3] (user acceleration), w[3]
#: (rotation rate, rad/s) and gh[3] (unit gravity), all in Core Motion's conventions.
_VECTOR_OF = {"acc": "u", "rot": "w"}


def _motion_expr(name: str) -> str:
    axes = {"x": 0, "y": 1, "z": 2}
    for prefix, var in (("gravity.", "g"), ("userAcceleration.", "u"), ("rotationRate.", "w")):
        if name.startswith(prefix) and name[len(prefix) :] in axes:
            return f"{var}[{axes[name[len(prefix) :]]}]"
    kind, _, what = name.partition("_")
    if kind in _VECTOR_OF and what in ("vertical", "horizontal", "magnitude"):
        v = _VECTOR_OF[kind]
        return {
            "vertical": f"dot3({v}, gh)",
            "horizontal": f"across3({v}, gh)",
            "magnitude": f"norm3({v})",
        }[what]
    raise UnsupportedOnMicroError(
        f"channel {name!r} cannot be computed from the Nano 33 BLE's IMU (Core Motion's "
        "attitude needs its sensor fusion): retrain with gravity / userAcceleration / "
        "rotationRate or derived channels (tinyml_utils.data.features.DERIVED_MOTION_CHANNELS)."
    )


def _imu_code(app: str, pre: dict[str, Any] | None, n_steps: int, channels: int) -> tuple:
    pre = pre or {}
    names = list(pre.get("channels") or [])
    if not names:  # no recipe: raw Core Motion vectors, in order
        names = [f"{v}.{a}" for v in ("userAcceleration", "rotationRate", "gravity") for a in "xyz"]
        names = names[:channels]
    if len(names) != channels:
        raise DataError(
            f"preprocessing.json lists {len(names)} channels, the model input has {channels}."
        )
    window = int(pre.get("window", n_steps))
    if window != n_steps:
        raise DataError(f"the recipe's window ({window}) is not the model's ({n_steps}).")
    rate = float(pre.get("sample_rate", 50.0))
    hop = int(pre.get("hop", window))
    mean, std, source = _normalization(pre if pre else None, channels)
    exprs = "\n".join(f"  v[{i}] = {_motion_expr(n)};  // {n}" for i, n in enumerate(names))
    code = f"""#include <Arduino_LSM9DS1.h>
#include <math.h>

// Input: the recipe of models/{app}/preprocessing.json. Channels: {", ".join(names)}.
constexpr float kSampleHz = {_floats([rate])};  // the training data's sample rate
constexpr int kWindow = {window};            // samples per model input
constexpr int kHop = {hop};                // new samples between two inferences
constexpr int kChannels = {channels};
// normalisation {source}
static const float kMean[kChannels] = {{{mean}}};
static const float kStd[kChannels] = {{{std}}};

static bool sensor_begin() {{ return IMU.begin(); }}

static float dot3(const float *a, const float *b) {{ return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }}
static float norm3(const float *a) {{ return sqrtf(dot3(a, a)); }}
// |a - (a . n) n|: the part of a across the unit vector n
static float across3(const float *a, const float *n) {{
  const float d = dot3(a, n);
  const float r[3] = {{a[0] - d * n[0], a[1] - d * n[1], a[2] - d * n[2]}};
  return norm3(r);
}}

// One sample in Core Motion's terms (the training data: an iPhone's CMDeviceMotion).
// Core Motion's accelerometer sign is the opposite of the LSM9DS1's (at rest, face up:
// z = -1 g vs +1 g); gravity = a low-pass filter of it (Core Motion fuses sensors: an
// approximation, time constant {GRAVITY_TAU_S} s); user acceleration = the rest.
static float g_lp[3] = {{0.0f, 0.0f, 0.0f}};
static bool g_init = false;

static bool read_sample(float *v) {{
  float ax, ay, az, gx, gy, gz;
  if (!IMU.accelerationAvailable() || !IMU.gyroscopeAvailable()) return false;
  IMU.readAcceleration(ax, ay, az);  // g
  IMU.readGyroscope(gx, gy, gz);     // degrees/s
  const float a[3] = {{-ax, -ay, -az}};
  const float alpha = 1.0f / (1.0f + kSampleHz * {GRAVITY_TAU_S}f);
  for (int i = 0; i < 3; ++i) g_lp[i] = g_init ? g_lp[i] + alpha * (a[i] - g_lp[i]) : a[i];
  g_init = true;
  const float *g = g_lp;
  const float u[3] = {{a[0] - g[0], a[1] - g[1], a[2] - g[2]}};
  const float deg = 3.14159265f / 180.0f;
  const float w[3] = {{gx * deg, gy * deg, gz * deg}};  // rad/s
  const float gn = norm3(g) > 1e-6f ? norm3(g) : 1e-6f;
  const float gh[3] = {{g[0] / gn, g[1] / gn, g[2] / gn}};
  (void)u; (void)w; (void)gh;
{exprs}
  return true;
}}

// Sliding window: the last kWindow samples, paced at kSampleHz.
static float history[kWindow][kChannels];
static int filled = 0;

static void fill_input() {{
  static uint32_t next_us = micros();
  int fresh = 0;
  while (fresh < kHop || filled < kWindow) {{
    float v[kChannels];
    while ((int32_t)(micros() - next_us) < 0) {{}}
    next_us += (uint32_t)(1e6f / kSampleHz);
    while (!read_sample(v)) {{}}
    memmove(history[0], history[1], sizeof(float) * kChannels * (kWindow - 1));
    for (int c = 0; c < kChannels; ++c) history[kWindow - 1][c] = v[c];
    if (filled < kWindow) ++filled;
    ++fresh;
  }}
  for (int t = 0; t < kWindow; ++t) {{
    for (int c = 0; c < kChannels; ++c) {{
      input->data.int8[t * kChannels + c] = quantize((history[t][c] - kMean[c]) / kStd[c]);
    }}
  }}
}}
"""
    return code, source


def _block_feature_code(app: str, pre: dict[str, Any], n_blocks: int, n_features: int) -> tuple:
    """CarSensor's per-block features on the board (:mod:`.carsensor_input`)."""
    window, blocks = int(pre["window"]), int(pre["blocks"])
    if blocks != n_blocks or n_features != 4:
        raise DataError(
            f"{app}: the recipe has {blocks} blocks x 4 features; the model input is "
            f"({n_blocks}, {n_features}): the recipe and the model do not belong together."
        )
    mean, std, source = _normalization(pre, n_features)
    code = carsensor_input.block_feature_code(
        app,
        rate=_floats([float(pre.get("rate") or 5.0)]),
        window=window,
        hop=int(pre.get("hop") or window),
        blocks=blocks,
        eps=_floats([EPS_LOG]),
        mean=mean,
        std=std,
        source=source,
        gravity=STANDARD_GRAVITY,
    )
    return code, source


def _accelerometer_code(app: str, pre: dict[str, Any] | None, n_steps: int, axes: int) -> tuple:
    pre = pre or {}
    if "blocks" in pre:  # the TMD recipe: per-block features, not raw samples
        return _block_feature_code(app, pre, n_steps, axes)
    window = int(pre.get("window", n_steps))
    if window != n_steps or axes != 3:
        raise DataError(
            f"carsensor windows are (window, 3); the model input is ({n_steps}, {axes})."
        )
    mean, std, source = _normalization(pre if pre else None, axes)
    rate = pre.get("sample_rate")
    rate_note = (
        "the recipe's sample rate"
        if rate
        else "ASSUMED: the dataset does not record its sample rate; set your recording's"
    )
    remove = bool(pre.get("remove_mean", False))
    code = f"""#include <Arduino_LSM9DS1.h>

// Input: the recipe of models/{app}/preprocessing.json: {window} readings of the three
// accelerometer axes in m/s^2 (phone accelerometers report m/s^2; the LSM9DS1 reports g),
// {"each window's mean removed per axis, " if remove else ""}normalised.
constexpr float kSampleHz = {_floats([float(rate or 50.0)])};  // {rate_note}
constexpr int kWindow = {window};
constexpr int kAxes = 3;
constexpr bool kRemoveMean = {"true" if remove else "false"};
// normalisation {source}
static const float kMean[kAxes] = {{{mean}}};
static const float kStd[kAxes] = {{{std}}};

static bool sensor_begin() {{ return IMU.begin(); }}

static float window_buf[kWindow][kAxes];

static void fill_input() {{
  static uint32_t next_us = micros();
  for (int t = 0; t < kWindow; ++t) {{
    float ax, ay, az;
    while ((int32_t)(micros() - next_us) < 0) {{}}
    next_us += (uint32_t)(1e6f / kSampleHz);
    while (!IMU.accelerationAvailable()) {{}}
    IMU.readAcceleration(ax, ay, az);  // g
    window_buf[t][0] = ax * {STANDARD_GRAVITY}f;
    window_buf[t][1] = ay * {STANDARD_GRAVITY}f;
    window_buf[t][2] = az * {STANDARD_GRAVITY}f;
  }}
  for (int c = 0; c < kAxes; ++c) {{
    float m = 0.0f;
    if (kRemoveMean) {{
      for (int t = 0; t < kWindow; ++t) m += window_buf[t][c];
      m /= kWindow;
    }}
    for (int t = 0; t < kWindow; ++t) {{
      input->data.int8[t * kAxes + c] = quantize((window_buf[t][c] - m - kMean[c]) / kStd[c]);
    }}
  }}
}}
"""
    return code, source


def _microphone_code(app: str, frontend_header: str, ident: str) -> str:
    up = ident.upper()
    return f"""#include <PDM.h>

#include "tinyml_frontend.h"
#include "{frontend_header}"

// Input: 16 kHz mono audio from the PDM microphone into a ring buffer; the last second
// goes through the C front end (firmware/audio/tinyml_frontend.c, constants generated from
// models/{app}/preprocessing.json and the model): the training log-mel features,
// normalised and quantized exactly as for training.
static volatile int16_t ring[{up}_CLIP_SAMPLES];
static volatile uint32_t written = 0;  // samples received so far

static void on_pdm_data() {{
  int16_t chunk[256];
  int n = PDM.available() / 2;
  if (n > 256) n = 256;
  PDM.read(chunk, n * 2);
  for (int i = 0; i < n; ++i) ring[(written + i) % {up}_CLIP_SAMPLES] = chunk[i];
  written += n;
}}

static bool sensor_begin() {{
  PDM.onReceive(on_pdm_data);
  return PDM.begin(1, {ident}_frontend.sample_rate);
}}

static int16_t clip[{up}_CLIP_SAMPLES];
static float features[{up}_FEATURES];
static float work[{up}_FRONTEND_WORK];

static void fill_input() {{
  while (written < {up}_CLIP_SAMPLES) {{}}  // the first second
  noInterrupts();
  const uint32_t end = written;
  for (int i = 0; i < {up}_CLIP_SAMPLES; ++i) clip[i] = ring[(end + i) % {up}_CLIP_SAMPLES];
  interrupts();
  tml_frontend_features(&{ident}_frontend, clip, features, work);
  tml_frontend_quantize(&{ident}_frontend, features, input->data.int8, {up}_FEATURES);
}}
"""


def _serial_code(app: str, pre: dict[str, Any] | None, n_in: int) -> tuple:
    mean, std, source = _normalization(pre, n_in)
    names = (pre or {}).get("feature_names") or []
    listed = f" ({', '.join(names[:4])}, ...)" if names else ""
    code = f"""// Input: one line of {n_in} comma-separated features{listed} per inference, computed
// on a PC as in models/{app}/preprocessing.json, normalised here with the training
// statistics ({source}).
constexpr int kFeatures = {n_in};
static const float kMean[kFeatures] = {{{mean}}};
static const float kStd[kFeatures] = {{{std}}};

static bool sensor_begin() {{ return true; }}

static void fill_input() {{
  for (int i = 0; i < kFeatures; ++i) {{
    while (!Serial.available()) {{}}
    input->data.int8[i] = quantize((Serial.parseFloat() - kMean[i]) / kStd[i]);
  }}
}}
"""
    return code, source


def render_sketch(
    app: str,
    model: ModelLike,
    identifier: str,
    header: str,
    arena: int,
    preprocessing: dict[str, Any] | None = None,
    frontend_header: str | None = None,
    arena_note: str = "TFLM's measured minimum",
) -> str:
    """The .ino text (see the module docstring)."""
    data = load_model_bytes(model)
    info = model_info(data)
    tin, tout = info.tensor(info.inputs[0]), info.tensor(info.outputs[0])
    sensor = get_app(app).sensor if app in APPS else "serial"
    n_in = tin.num_elements
    shape = [int(d) for d in tin.shape[1:]]
    if sensor == "imu":
        code, source = _imu_code(app, preprocessing, shape[0], shape[-1])
    elif sensor == "accelerometer":
        code, source = _accelerometer_code(app, preprocessing, shape[0], shape[-1])
    elif sensor == "microphone":
        if frontend_header is None:
            raise DataError(
                f"{app}: the microphone sketch needs the audio front end; give the model's "
                "preprocessing.json (write_sketch(..., preprocessing=...))."
            )
        code = _microphone_code(app, frontend_header, c_array.c_identifier(app))
        source = "in the generated front-end header"
    else:
        code, source = _serial_code(app, preprocessing, n_in)
    resolver = op_resolver.resolver_code(data)
    return f"""/*
 * {app}.ino - TensorFlow Lite Micro on an Arduino Nano 33 BLE Sense (generated by
 * tinyml_utils.deploy.sketch; regenerate with
 * `tinyml export models/{app}/model_int8.tflite --name {app} --out firmware/arduino --sketch`).
 *
 * Library: {LIBRARY} (Library Manager; the official Arduino_TensorFlowLite was withdrawn
 * from it). Board: Arduino Mbed OS Nano Boards (nRF52840, 64 MHz, 1 MB flash, 256 KB RAM).
 * Model: {header} ({len(data)} bytes in flash), input {tuple(tin.shape)} int8
 * ({tin.quantization_text()}), output {tuple(tout.shape)} int8 ({tout.quantization_text()}).
 * Tensor arena: {arena} bytes = {arena_note}
 * + max(25 %, 1 KB) margin.
 * Input normalisation: {source}.
 */
#include <{LIBRARY}.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include <math.h>
#include <string.h>

#include "{header}"

static TfLiteTensor *input = nullptr;
static TfLiteTensor *output = nullptr;

// float -> int8 model input, as training quantized it (round half to even, as numpy)
static int8_t quantize(float x) {{
  const float q = rintf(x / input->params.scale) + (float)input->params.zero_point;
  return (int8_t)(q < -128.0f ? -128 : (q > 127.0f ? 127 : (int)q));
}}

{code}
{resolver}
constexpr int kArenaBytes = {arena};
alignas(16) static uint8_t tensor_arena[kArenaBytes];
static tflite::MicroInterpreter *interpreter = nullptr;

void setup() {{
  Serial.begin(115200);
  while (!Serial) {{}}
  const tflite::Model *model = tflite::GetModel({identifier});
  if (model->version() != TFLITE_SCHEMA_VERSION) {{
    Serial.println("model schema version mismatch");
    while (true) {{}}
  }}
  if (RegisterOps() != kTfLiteOk) {{
    Serial.println("op registration failed");
    while (true) {{}}
  }}
  static tflite::MicroInterpreter static_interpreter(model, op_resolver, tensor_arena, kArenaBytes);
  interpreter = &static_interpreter;
  if (interpreter->AllocateTensors() != kTfLiteOk) {{
    Serial.println("AllocateTensors failed: increase kArenaBytes");
    while (true) {{}}
  }}
  Serial.print("arena used: ");
  Serial.println((unsigned long)interpreter->arena_used_bytes());
  input = interpreter->input(0);
  output = interpreter->output(0);
  if (!sensor_begin()) {{
    Serial.println("sensor failed to start");
    while (true) {{}}
  }}
}}

void loop() {{
  fill_input();
  if (interpreter->Invoke() != kTfLiteOk) {{
    Serial.println("Invoke failed");
    return;
  }}
  int best = 0;
  for (int i = 1; i < output->dims->data[output->dims->size - 1]; ++i) {{
    if (output->data.int8[i] > output->data.int8[best]) best = i;
  }}
  const float p = (output->data.int8[best] - output->params.zero_point) * output->params.scale;
  Serial.print("class ");
  Serial.print(best);
  Serial.print(" p=");
  Serial.println(p);
}}
"""


def write_sketch(
    app: str,
    model: ModelLike,
    out_dir: str | Path,
    measured_arena: int | None = None,
    preprocessing: str | Path | dict[str, Any] | None = None,
) -> SketchFiles:
    """Write the sketch folder ``out_dir/<app>/``.

    ``measured_arena`` None: measure it. ``preprocessing``: the recipe (dict, or a path to
    preprocessing.json / the model file beside it); None when ``model`` is a path: the
    preprocessing.json next to it, if any (otherwise the sketch normalises with mean 0 /
    std 1 and says so loudly).
    """
    data = load_model_bytes(model)
    if preprocessing is None and isinstance(model, str | Path):
        candidate = Path(model).parent / "preprocessing.json"
        preprocessing = candidate if candidate.is_file() else None
    pre = frontend.load_preprocessing(preprocessing) if preprocessing is not None else None
    folder = Path(out_dir) / app
    exp = c_array.export_c_array(
        data,
        folder,
        name=app,
        arena_bytes="measure" if measured_arena is None else measured_arena,
        source_ext=".cpp",
    )
    measured = exp.arena_bytes
    target = target_arena(data).bytes if measured_arena is None else None
    base = target or measured
    arena = arena_with_margin(base) if base else 32 * 1024
    if target:
        arena_note = (
            f"TFLM's minimum on a 32-bit Cortex-M4F ({target} bytes, measured on the emulated "
            f"board; the 64-bit host runtime needs {measured})"
        )
    elif measured_arena is not None:
        arena_note = "the arena given to write_sketch (measured_arena)"
    else:
        arena_note = "TFLM's minimum measured by the 64-bit host runtime (a 32-bit MCU needs less)"
    extra: list[Path] = []
    front = None
    if app in APPS and get_app(app).sensor == "microphone" and pre is not None:
        extra = frontend.write_frontend(folder, app, pre, data)
        front = extra[0].name
    ino = folder / f"{app}.ino"
    ino.write_text(
        render_sketch(app, data, exp.identifier, exp.header.name, arena, pre, front, arena_note)
    )
    source = "identity (no preprocessing.json)" if pre is None else "preprocessing.json"
    return SketchFiles(
        folder,
        ino,
        exp.header,
        exp.source,
        op_resolver.model_ops(data),
        measured,
        arena,
        extra,
        source,
        target,
    )


def input_code(ino_text: str, max_chars: int = 1200) -> str:
    """The part of a generated .ino that reads and prepares the model's input (from its
    ``// Input:`` comment on): what notebook 11 shows next to the recipe it came from."""
    start = ino_text.find("// Input:")
    if start < 0:
        raise ValueError("no '// Input:' section: not a sketch written by tinyml export --sketch")
    return ino_text[start : start + max_chars]
