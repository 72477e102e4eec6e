"""TFLM Arduino sketches for the Arduino Nano 33 BLE Sense, one folder per app.

:func:`write_sketch` writes ``<out>/<app>/<app>.ino`` plus the model array of
:mod:`~tinyml_utils.deploy.c_array`. The sketch uses the TensorFlow Lite Micro Arduino
library (``Chirale_TensorFlowLite``: the official ``Arduino_TensorFlowLite`` was withdrawn
from the Library Manager and its repository archived), registers exactly the model's ops
(:mod:`~tinyml_utils.deploy.op_resolver`) and sizes the tensor arena from the measured TFLM
arena plus :data:`ARENA_MARGIN`. Input comes from the board's sensors: the LSM9DS1 IMU
(``Arduino_LSM9DS1``) for motionsense/carsensor, the PDM microphone (``PDM``) for keyword
spotting; music_genre reads a feature vector from the serial port.

These sketches cannot be compiled here (the library and the nRF52 core are not Debian
packages); the tests check what can be checked: the registered ops equal the model's ops and
the arena size allocates in the tflite-micro runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyml_utils.analyze.interpreters import ModelLike, load_model_bytes
from tinyml_utils.deploy import c_array, op_resolver

#: Extra arena on top of TFLM's measured minimum: the Arduino build of TFLM may use other
#: (optimized) kernels with their own scratch buffers than the Python runtime measured.
ARENA_MARGIN = 0.25
ARENA_MIN_MARGIN = 1024

LIBRARY = "Chirale_TensorFlowLite"

SENSOR_CODE = {
    "imu": """#include <Arduino_LSM9DS1.h>

// One window of IMU samples, collected at the model's sample rate.
static bool sensor_begin() { return IMU.begin(); }

static bool read_sample(float *values, int channels) {
  float ax, ay, az, gx, gy, gz;
  if (!IMU.accelerationAvailable() || !IMU.gyroscopeAvailable()) return false;
  IMU.readAcceleration(ax, ay, az);  // g
  IMU.readGyroscope(gx, gy, gz);     // degrees/s
  const float all[6] = {ax, ay, az, gx, gy, gz};
  for (int c = 0; c < channels && c < 6; ++c) values[c] = all[c];
  return true;
}
""",
    "microphone": """#include <PDM.h>

// 16 kHz mono audio from the PDM microphone into a ring buffer; features are computed
// from the last second (see compute_features: it must match the training preprocessing).
static volatile int16_t audio[16000];
static volatile int audio_pos = 0;

static void on_pdm_data() {
  int16_t chunk[256];
  int n = PDM.available() / 2;
  if (n > 256) n = 256;
  PDM.read(chunk, n * 2);
  for (int i = 0; i < n; ++i) { audio[audio_pos] = chunk[i]; audio_pos = (audio_pos + 1) % 16000; }
}

static bool sensor_begin() {
  PDM.onReceive(on_pdm_data);
  return PDM.begin(1, 16000);
}
""",
    "serial": """// Feature vectors arrive over the serial port as comma-separated floats, one line each.
static bool sensor_begin() { return true; }
""",
}

APP_SENSORS = {
    "motionsense": "imu",
    "carsensor": "imu",
    "keyword_spotting": "microphone",
    "music_genre": "serial",
}


@dataclass
class SketchFiles:
    """What :func:`write_sketch` wrote and the numbers it used."""

    folder: Path
    ino: Path
    model_header: Path
    model_source: Path
    ops: list[str]
    measured_arena: int | None
    arena_bytes: int


def arena_with_margin(measured: int) -> int:
    """Measured arena + max(25 %, 1 KB), rounded up to 16 bytes."""
    extra = max(int(measured * ARENA_MARGIN), ARENA_MIN_MARGIN)
    return -(-(measured + extra) // 16) * 16


def render_sketch(app: str, model: ModelLike, identifier: str, header: str, arena: int) -> str:
    """The .ino text (see the module docstring)."""
    from tinyml_utils.analyze.tflite_model import model_info

    data = load_model_bytes(model)
    info = model_info(data)
    tin, tout = info.tensor(info.inputs[0]), info.tensor(info.outputs[0])
    sensor = APP_SENSORS.get(app, "serial")
    n_in = tin.num_elements
    channels = int(tin.shape[-1])
    resolver = op_resolver.resolver_code(data)
    if sensor == "imu":
        fill = f"""  // Fill one window: {n_in // channels} samples x {channels} channels, normalised
  // as in training (models/{app}/preprocessing.json), then quantized.
  for (int t = 0; t < {n_in // channels}; ++t) {{
    float v[{channels}];
    while (!read_sample(v, {channels})) {{}}
    for (int c = 0; c < {channels}; ++c) {{
      input->data.int8[t * {channels} + c] = quantize((v[c] - kMean[c]) / kStd[c]);
    }}
  }}"""
        norm = (
            f"// Replace with the normalisation of models/{app}/preprocessing.json\n"
            f"static const float kMean[{channels}] = {{{', '.join(['0.0f'] * channels)}}};\n"
            f"static const float kStd[{channels}] = {{{', '.join(['1.0f'] * channels)}}};\n"
        )
    elif sensor == "microphone":
        fill = f"""  // compute_features() must reproduce the training features (models/{app}/preprocessing.json)
  static float features[{n_in}];
  compute_features(audio, audio_pos, features, {n_in});
  for (int i = 0; i < {n_in}; ++i) input->data.int8[i] = quantize(features[i]);"""
        norm = f"""// TODO(port): the log-mel / MFCC front end of tinyml_utils.features for {app}.
static void compute_features(volatile int16_t *pcm, int pos, float *out, int n) {{
  (void)pcm; (void)pos;
  for (int i = 0; i < n; ++i) out[i] = 0.0f;
}}
"""
    else:
        fill = f"""  for (int i = 0; i < {n_in}; ++i) {{
    while (!Serial.available()) {{}}
    input->data.int8[i] = quantize(Serial.parseFloat());
  }}"""
        norm = ""
    return f"""/*
 * {app}.ino - TensorFlow Lite Micro on an Arduino Nano 33 BLE Sense (generated by
 * tinyml_utils.deploy.sketch).
 *
 * Library: {LIBRARY} (Library Manager; the official Arduino_TensorFlowLite was withdrawn
 * from it). Board: Arduino Mbed OS Nano Boards (nRF52840, 64 MHz, 1 MB flash, 256 KB RAM).
 * Model: {header} ({len(data)} bytes in flash), input {tuple(tin.shape)} int8
 * ({tin.quantization_text()}), output {tuple(tout.shape)} int8 ({tout.quantization_text()}).
 * Tensor arena: {arena} bytes = TFLM's measured minimum + max(25 %, 1 KB) margin.
 */
#include <{LIBRARY}.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "{header}"

{SENSOR_CODE[sensor]}
{norm}
{resolver}
constexpr int kArenaBytes = {arena};
alignas(16) static uint8_t tensor_arena[kArenaBytes];
static tflite::MicroInterpreter *interpreter = nullptr;
static TfLiteTensor *input = nullptr;
static TfLiteTensor *output = nullptr;

static int8_t quantize(float x) {{
  const int32_t q = (int32_t)roundf(x / input->params.scale) + input->params.zero_point;
  return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}}

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
  Serial.println(interpreter->arena_used_bytes());
  input = interpreter->input(0);
  output = interpreter->output(0);
  if (!sensor_begin()) {{
    Serial.println("sensor failed to start");
    while (true) {{}}
  }}
}}

void loop() {{
{fill}
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
    app: str, model: ModelLike, out_dir: str | Path, measured_arena: int | None = None
) -> SketchFiles:
    """Write the sketch folder ``out_dir/<app>/``. ``measured_arena`` None: measure it."""
    data = load_model_bytes(model)
    folder = Path(out_dir) / app
    exp = c_array.export_c_array(
        data,
        folder,
        name=app,
        arena_bytes="measure" if measured_arena is None else measured_arena,
        source_ext=".cpp",
    )
    measured = exp.arena_bytes
    arena = arena_with_margin(measured) if measured else 32 * 1024
    ino = folder / f"{app}.ino"
    ino.write_text(render_sketch(app, data, exp.identifier, exp.header.name, arena))
    return SketchFiles(
        folder, ino, exp.header, exp.source, op_resolver.model_ops(data), measured, arena
    )
