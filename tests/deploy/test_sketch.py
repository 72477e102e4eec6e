"""deploy.sketch: the TFLM Arduino sketches, their input code and the committed sketches.

The Arduino core and the TFLM library are not installable here, so every generated sketch is
compiled with g++ against small stub headers that declare exactly the API the sketch uses
(Arduino, LSM9DS1, PDM, TFLM): syntax, types and names are checked, not the libraries.
"""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from tinyml_utils import apps
from tinyml_utils.apps import get_app
from tinyml_utils.core.errors import UnsupportedOnMicroError
from tinyml_utils.core.paths import models_dir, repo_root
from tinyml_utils.deploy import examples, frontend, op_resolver, sketch

STUBS = {
    "Arduino.h": """#pragma once
#include <stdint.h>
#include <stddef.h>
struct SerialStub {
  void begin(long) {}
  explicit operator bool() const { return true; }
  int available() { return 1; }
  float parseFloat() { return 0.0f; }
  template <typename T> void print(T) {}
  template <typename T> void println(T) {}
};
extern SerialStub Serial;
uint32_t micros();
void noInterrupts();
void interrupts();
""",
    "Chirale_TensorFlowLite.h": "#pragma once\n",
    "Arduino_LSM9DS1.h": """#pragma once
struct IMUStub {
  int begin() { return 1; }
  int accelerationAvailable() { return 1; }
  int gyroscopeAvailable() { return 1; }
  int readAcceleration(float &x, float &y, float &z) { x = y = z = 0; return 1; }
  int readGyroscope(float &x, float &y, float &z) { x = y = z = 0; return 1; }
};
extern IMUStub IMU;
""",
    "PDM.h": """#pragma once
struct PDMStub {
  void onReceive(void (*)(void)) {}
  int begin(int, long) { return 1; }
  int available() { return 0; }
  int read(void *, int) { return 0; }
};
extern PDMStub PDM;
""",
    "tensorflow/lite/micro/micro_log.h": "#pragma once\n",
    "tensorflow/lite/schema/schema_generated.h": """#pragma once
#define TFLITE_SCHEMA_VERSION 3
namespace tflite {
struct Model { int version() const { return 3; } };
const Model *GetModel(const void *);
}
""",
    "tensorflow/lite/micro/micro_interpreter.h": """#pragma once
#include <stddef.h>
#include <stdint.h>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef struct { int size; int data[4]; } TfLiteIntArray;
typedef struct { float scale; int32_t zero_point; } TfLiteQuantizationParams;
typedef union { int8_t *int8; float *f; } TfLitePtrUnion;
typedef struct { TfLitePtrUnion data; TfLiteIntArray *dims; TfLiteQuantizationParams params; }
    TfLiteTensor;
namespace tflite {
struct Model;
class MicroOpResolver {};
class MicroInterpreter {
 public:
  MicroInterpreter(const Model *, const MicroOpResolver &, uint8_t *, size_t) {}
  TfLiteStatus AllocateTensors() { return kTfLiteOk; }
  TfLiteStatus Invoke() { return kTfLiteOk; }
  size_t arena_used_bytes() const { return 0; }
  TfLiteTensor *input(size_t) { return nullptr; }
  TfLiteTensor *output(size_t) { return nullptr; }
};
}
""",
}


def _resolver_stub(methods: list[str]) -> str:
    body = "\n".join(
        f"  TfLiteStatus {m}(TFLMRegistration = TFLMRegistration()) {{ return kTfLiteOk; }}"
        for m in sorted(set(methods))
    )
    return (
        '#pragma once\n#include "tensorflow/lite/micro/micro_interpreter.h"\n'
        "namespace tflite {\nstruct TFLMRegistration {};\n"
        "template <unsigned N> class MicroMutableOpResolver : "
        f"public MicroOpResolver {{\n public:\n{body}\n}};\n}}\n"
    )


def _kernel_stub(header: str) -> str:
    """kernels/<op>.h: declares the int8-only registrations that header holds in TFLM."""
    ops = [op for op, h in op_resolver.INT8_HEADERS.items() if h == header]
    decls = "".join(f"TFLMRegistration {op_resolver.INT8_REGISTRATIONS[op]}();\n" for op in ops)
    return (
        '#pragma once\n#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n'
        f"namespace tflite {{\n{decls}}}\n"
    )


def compile_sketch(folder, stubs_dir, model) -> None:
    """g++ -fsyntax-only of the .ino (+ every .cpp / .c of the folder) against the stubs."""
    (stubs_dir / "tensorflow/lite/micro").mkdir(parents=True, exist_ok=True)
    (stubs_dir / "tensorflow/lite/schema").mkdir(parents=True, exist_ok=True)
    for name, text in STUBS.items():
        (stubs_dir / name).write_text(text)
    (stubs_dir / "tensorflow/lite/micro/micro_mutable_op_resolver.h").write_text(
        _resolver_stub(op_resolver.resolver_methods(model))
    )
    (stubs_dir / "tensorflow/lite/micro/kernels").mkdir(exist_ok=True)
    for header in set(op_resolver.INT8_HEADERS.values()):
        (stubs_dir / "tensorflow/lite/micro/kernels" / header).write_text(_kernel_stub(header))
    flags = ["-Wall", "-Wextra", "-Werror", "-fsyntax-only", f"-I{stubs_dir}", f"-I{folder}"]
    for ino in folder.glob("*.ino"):
        subprocess.run(
            ["g++", "-std=c++11", *flags, "-include", "Arduino.h", "-x", "c++", str(ino)],
            check=True,
        )
    for src in folder.glob("*.cpp"):
        subprocess.run(["g++", "-std=c++11", *flags, str(src)], check=True)
    for src in folder.glob("*.c"):
        subprocess.run(["gcc", "-std=c99", *flags, str(src)], check=True)


def _c_floats(text: str, name: str) -> np.ndarray:
    m = re.search(rf"{name}\[[^\]]*\] = \{{([^}}]*)\}}", text)
    assert m, f"{name} not found"
    return np.array([float(v.strip().rstrip("f")) for v in m.group(1).split(",")], np.float32)


@pytest.mark.parametrize("app", apps.APPS)
def test_sketch_compiles_and_uses_the_training_recipe(app, tmp_path, require_tool):
    """Every app's sketch (reference model + its preprocessing.json, or the stand-in with the
    synthetic recipe) compiles against the stubs; its normalisation constants are the
    recipe's numbers; the KWS sketch carries the C front end."""
    require_tool("g++")
    model, _ = examples.app_model(app)
    path = models_dir() / app / "preprocessing.json"
    pre = (
        json.loads(path.read_text())
        if path.is_file()
        else apps.prepare(app, source="synthetic", quick=True).preprocessing
    )
    files = sketch.write_sketch(app, model, tmp_path, measured_arena=4096, preprocessing=pre)
    text = files.ino.read_text()
    assert files.preprocessing == "preprocessing.json"
    assert f"constexpr int kArenaBytes = {sketch.arena_with_margin(4096)};" in text
    if app == "keyword_spotting":
        header = (files.folder / "keyword_spotting_frontend.h").read_text()
        spec = frontend.frontend_spec(pre, model)
        np.testing.assert_array_equal(_c_floats(header, "keyword_spotting_fe_mean"), spec.mean)
        np.testing.assert_array_equal(_c_floats(header, "keyword_spotting_fe_std"), spec.std)
        assert "tml_frontend_features(&keyword_spotting_frontend" in text
        for f in frontend.FRONTEND_FILES:
            assert (files.folder / f).read_bytes() == (frontend.FRONTEND_DIR / f).read_bytes()
    else:
        mean = np.asarray(pre["normalization"]["mean"], np.float32)
        np.testing.assert_array_equal(_c_floats(text, "kMean"), mean)
        np.testing.assert_array_equal(
            _c_floats(text, "kStd"), np.asarray(pre["normalization"]["std"], np.float32)
        )
    if app == "motionsense":
        for ch in pre["channels"]:
            assert f"// {ch}" in text
        assert f"kSampleHz = {float(pre['sample_rate']):g}" in text
        assert f"kHop = {pre['hop']};" in text
    compile_sketch(files.folder, tmp_path / "stubs", model)


def test_sketch_without_recipe_says_so_and_attitude_is_refused(tmp_path):
    model, _ = examples.app_model("motionsense")
    files = sketch.write_sketch("music_genre", examples.app_model("music_genre")[0], tmp_path, 4096)
    assert files.preprocessing.startswith("identity")
    assert "NO preprocessing.json" in files.ino.read_text()
    pre = {"channels": ["attitude.roll", "gravity.x", "gravity.y", "gravity.z"], "window": 256}
    with pytest.raises(UnsupportedOnMicroError, match="attitude"):
        sketch.write_sketch("motionsense", model, tmp_path / "m", 4096, preprocessing=pre)


def test_committed_sketches_are_the_generated_ones():
    """firmware/arduino/<app>/ holds what `tinyml export ... --sketch` writes for the current
    reference model and recipe (regenerate after retraining)."""
    root = repo_root() / "firmware" / "arduino"
    for app in apps.APPS:
        model = models_dir() / app / "model_int8.tflite"
        ino = root / app / f"{app}.ino"
        if not model.is_file():
            continue
        assert ino.is_file(), f"{ino} missing: run tinyml export {model} --sketch"
        committed = ino.read_text()
        arena = int(re.search(r"constexpr int kArenaBytes = (\d+);", committed).group(1))
        pre = frontend.load_preprocessing(model)
        front = f"{app}_frontend.h" if get_app(app).sensor == "microphone" else None
        data = model.read_bytes()
        ident = f"g_{app}_model"
        note = re.search(r"Tensor arena: \d+ bytes = (.*?)\n \* \+ max", committed, re.S).group(1)
        want = sketch.render_sketch(
            app, data, ident, f"{app}_model_data.h", arena, pre, front, note
        )
        assert committed == want, f"{ino} is stale: regenerate it with tinyml export"
        data_cpp = (root / app / f"{app}_model_data.cpp").read_text()
        assert f"{len(data)} bytes" in (root / app / f"{app}_model_data.h").read_text()
        assert data_cpp.count("0x") >= len(data)
        if front:
            spec = frontend.frontend_spec(pre, data)
            assert (root / app / front).read_text() == frontend.frontend_header(app, spec)
