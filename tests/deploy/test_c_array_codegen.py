"""deploy: C array export, op resolver, and the generated C99 inference on the host."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils import apps
from tinyml_utils.core.errors import DataError, UnsupportedOnMicroError
from tinyml_utils.core.paths import models_dir
from tinyml_utils.deploy import c_array, codegen, examples, op_resolver, reference, toolchains


def _build_models() -> dict[str, bytes]:
    """Small int8 models that together use every op the generator supports."""
    from tinyml_utils.core.tf import keras, tf
    from tinyml_utils.tflite.convert import convert

    L = keras.layers
    rng = np.random.default_rng(0)
    tf.keras.utils.set_random_seed(2)
    models = {}
    inp = keras.Input((12, 10, 3))
    r6 = L.ReLU(max_value=6.0)(inp)  # standalone RELU6
    a = L.Conv2D(8, 3, padding="same", activation="relu")(r6)
    b = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(a)
    g = L.GlobalAveragePooling2D(keepdims=True)(b)  # MEAN
    s = L.Add()([b, g])  # broadcasting ADD
    m = L.MaxPooling2D(3, strides=2, padding="same")(s)
    p = L.AveragePooling2D(2, strides=1, padding="valid")(m)
    c = L.Conv2D(6, 2, strides=2, padding="valid", activation="relu6")(s)
    d = L.Dense(10)(L.Flatten()(p))
    out = L.Softmax()(d)
    x = rng.normal(size=(200, 12, 10, 3)).astype("float32") * 3
    models["cover2d"] = convert(keras.Model(inp, [out]), "int8", x)
    models["cover2d_conv"] = convert(keras.Model(inp, c), "int8", x)
    inp = keras.Input((40, 4))
    r = L.ReLU()(inp)  # standalone RELU
    c = L.Conv1D(6, 5, strides=2, padding="valid", activation="relu")(r)
    gm = L.GlobalAveragePooling1D()(c)
    gx = L.GlobalMaxPooling1D()(c)  # REDUCE_MAX
    s2 = L.Add()([gm, gx])
    o = L.Dense(1, activation="sigmoid")(L.Dense(12, activation="relu")(s2))  # LOGISTIC
    x = rng.normal(size=(200, 40, 4)).astype("float32")
    models["cover1d"] = convert(keras.Model(inp, o), "int8", x)
    return models


@pytest.fixture(scope="session")
def cover_models() -> dict[str, bytes]:
    return _build_models()


def test_c_identifier():
    assert c_array.c_identifier("KWS model-v2") == "kws_model_v2"
    assert c_array.c_identifier("2nd try") == "m_2nd_try"
    assert c_array.c_identifier("int") == "int_model"
    with pytest.raises(DataError):
        c_array.c_identifier("---")


@pytest.mark.parametrize("ext,compiler", [(".c", "gcc"), (".cc", "g++")])
def test_c_array_compiles_and_round_trips(tmp_path, cover_models, require_tool, ext, compiler):
    require_tool(compiler)
    data = cover_models["cover1d"]
    exp = c_array.export_c_array(
        data, tmp_path, name="Car Sensor", arena_bytes=4096, source_ext=ext
    )
    assert exp.identifier == "g_car_sensor_model" and exp.length == len(data)
    header = exp.header.read_text()
    source = exp.source.read_text()
    assert "extern const unsigned char g_car_sensor_model[];" in header
    assert "extern const unsigned int g_car_sensor_model_len;" in header
    assert "TINYML_ALIGNAS16 const unsigned char g_car_sensor_model[]" in source
    assert "alignas(16)" in source
    for op in op_resolver.model_ops(data):
        assert op in header
    assert "input 0: 1x40x4 int8" in header and "tensor arena: 4096 bytes" in header
    back = c_array.compile_round_trip(exp, tmp_path / "build")
    assert back.data == data
    assert back.address_mod_16 == 0, "array not 16-byte aligned"


def test_c_array_measures_the_tflm_arena(tmp_path, cover_models):
    exp = c_array.export_c_array(cover_models["cover1d"], tmp_path, name="m")
    assert exp.arena_bytes is not None and exp.arena_bytes % 16 == 0
    assert f"tensor arena: {exp.arena_bytes} bytes measured" in exp.header.read_text()


def test_op_resolver_registers_exactly_the_model_ops(cover_models):
    from tinyml_utils.tflite.reader import model_info

    for data in cover_models.values():
        ops = {op.name for op in model_info(data).ops}
        assert set(op_resolver.model_ops(data)) == ops
        assert op_resolver.is_int8_model(data)
        code = op_resolver.resolver_code(data)
        assert f"MicroMutableOpResolver<{len(ops)}>" in code
        assert code.count(" != kTfLiteOk") == len(ops)
        # int8 model: the int8-only kernel of every op that has one, with its header
        for op in ops & set(op_resolver.INT8_REGISTRATIONS):
            assert f"(tflite::{op_resolver.INT8_REGISTRATIONS[op]}())" in code, (op, code)
            assert f"kernels/{op_resolver.INT8_HEADERS[op]}" in code
        plain = op_resolver.resolver_code(data, int8=False)
        assert "_INT8" not in plain and plain.count("() != kTfLiteOk") == len(ops)
    float_model = models_dir() / "carsensor" / "model_float32.tflite"
    assert not op_resolver.is_int8_model(float_model)
    assert "_INT8" not in op_resolver.resolver_code(float_model)
    assert op_resolver.method_name("CONV_2D") == "AddConv2D"
    assert op_resolver.method_name("FULLY_CONNECTED") == "AddFullyConnected"
    assert op_resolver.method_name("MAX_POOL_2D") == "AddMaxPool2D"
    assert op_resolver.method_name("EXPAND_DIMS") == "AddExpandDims"
    with pytest.raises(UnsupportedOnMicroError):
        op_resolver.method_name("CUSTOM:MyOp")


def test_codegen_rejects_unsupported_ops(tmp_path):
    from tinyml_utils.core.tf import keras
    from tinyml_utils.tflite.convert import convert

    inp = keras.Input((8, 3))
    x = keras.layers.Conv1D(4, 3, padding="same")(inp)
    out = keras.layers.Concatenate()([x, inp])
    data = convert(keras.Model(inp, out), "int8", np.random.default_rng(0).normal(size=(50, 8, 3)))
    with pytest.raises(UnsupportedOnMicroError, match="CONCATENATION"):
        codegen.generate(data, "bad", tmp_path)


def test_quantize_multiplier_matches_tflite():
    # values checked against TFLite's QuantizeMultiplier
    assert codegen.quantize_multiplier(0.5) == (1 << 30, 0)
    assert codegen.quantize_multiplier(1.0) == (1 << 30, 1)
    assert codegen.quantize_multiplier(0.0) == (0, 0)
    m, s = codegen.quantize_multiplier(0.0123)
    assert abs(m * 2.0 ** (s - 31) - 0.0123) < 1e-9


@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "smlad-emulated"])
def test_codegen_bit_exact_every_op(tmp_path, cover_models, require_tool, dsp):
    """All supported ops, 200 random int8 inputs: the C output equals TFLite's reference
    kernels byte for byte (LOGISTIC/SOFTMAX outputs: within 1, same top-1)."""
    require_tool("gcc")
    rng = np.random.default_rng(1)
    for name, data in cover_models.items():
        gen = codegen.generate(data, name, tmp_path / name)
        x = rng.integers(-128, 128, size=(200, gen.input_size), dtype=np.int8)
        build = toolchains.build_host(gen, dsp_emulate=dsp)
        got = toolchains.run_host(build, x, gen.output_size)
        want = reference.reference_outputs(data, x)
        result = reference.compare(got, want, tolerance=1 if gen.approx_output else 0)
        assert result.ok, f"{name}: {result.summary()}"
        if not gen.approx_output:
            assert result.equal_bytes == result.total_bytes


def test_codegen_memory_plan_and_layers(tmp_path, cover_models):
    gen = codegen.generate(cover_models["cover2d"], "cover2d", tmp_path)
    assert gen.ops[0] == "RELU6" and gen.ops[-1] == "SOFTMAX" and gen.approx_output
    assert gen.input_shape == (1, 12, 10, 3) and gen.output_shape == (1, 10)
    # the plan reuses memory: less than the sum of all intermediate tensors
    from tinyml_utils.tflite.reader import model_info

    info = model_info(cover_models["cover2d"])
    inner = sum(
        t.nbytes for t in info.tensors if not t.is_constant and not t.is_input and not t.is_output
    )
    assert 0 < gen.arena_bytes < inner
    assert gen.macs == sum(layer["macs"] for layer in gen.layers) > 0
    assert {
        "tinyml_kernels.c",
        "tinyml_kernels.h",
        "tinyml_kernels_dsp.h",
        "cover2d_model.c",
        "cover2d_model.h",
    } == {f.name for f in gen.files}


def test_arduino_sketch_ops_and_arena_allocate(tmp_path, cover_models):
    """The TFLM sketch registers exactly the model's ops, and its arena allocates and
    invokes in the tflite-micro runtime."""
    from tinyml_utils.deploy import sketch
    from tinyml_utils.tflite.interpreters import TFLMRunner

    data = cover_models["cover1d"]
    files = sketch.write_sketch("motionsense", data, tmp_path)
    ino = files.ino.read_text()
    assert "#include <Chirale_TensorFlowLite.h>" in ino and "Arduino_LSM9DS1" in ino
    for op in op_resolver.model_ops(data):
        assert f"{op_resolver.method_name(op)}(" in ino
    assert f"MicroMutableOpResolver<{len(files.ops)}>" in ino
    if files.target_arena is not None:  # the ARM toolchain measured the 32-bit target
        assert files.target_arena <= files.measured_arena
    assert files.arena_bytes >= (files.target_arena or files.measured_arena) + 1024
    assert f"constexpr int kArenaBytes = {files.arena_bytes};" in ino
    runner = TFLMRunner(data, arena_size=files.arena_bytes)
    out = runner.predict(np.zeros((1, 40, 4), np.float32))
    assert out.shape == (1, 1)


def test_cli_export_codegen(tmp_path, cover_models):
    from tinyml_utils.cli import main

    model = tmp_path / "m.tflite"
    model.write_bytes(cover_models["cover1d"])
    assert (
        main(["export", str(model), "--name", "demo", "--out", str(tmp_path / "c"), "--codegen"])
        == 0
    )
    assert (tmp_path / "c" / "demo_model.c").is_file()
    assert (
        main(["export", str(model), "--name", "demo", "--out", str(tmp_path / "a"), "--no-arena"])
        == 0
    )
    assert (tmp_path / "a" / "demo_model_data.cc").is_file()
    assert main(["export", str(tmp_path / "missing.tflite"), "--out", str(tmp_path)]) == 2


def _live_bound(info) -> int:
    """The activation bytes that must coexist at the busiest step of the model, computed from
    the graph alone: RESHAPE-like ops share their input's bytes, a CONV_2D whose output only
    a following MAX_POOL_2D reads is one step (pooled on the fly), the model input and output
    are the caller's buffers, every buffer rounded up to 4 bytes. A lifetime plan needs at
    least this; on a chain of ops, exactly this."""
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while t in root:
            t = root[t]
        return t

    steps, ops, k = [], info.ops, 0
    while k < len(ops):
        op = ops[k]
        if op.name in codegen.ALIAS_OPS:
            root[op.outputs[0]] = find(op.inputs[0])
            k += 1
            continue
        outs = op.outputs
        readers = sum(op.outputs[0] in o.inputs for o in ops)
        if op.name == "CONV_2D" and k + 1 < len(ops) and readers == 1:
            if ops[k + 1].name == "MAX_POOL_2D" and ops[k + 1].inputs[0] == op.outputs[0]:
                outs, k = ops[k + 1].outputs, k + 1
        ins = [t for t in op.inputs if t >= 0 and not info.tensor(t).is_constant]
        steps.append(([find(t) for t in ins], [find(t) for t in outs]))
        k += 1
    io = {find(info.inputs[0]), find(info.outputs[0])}
    first, last, size = {}, {}, {}
    for step, (ins, outs) in enumerate(steps):
        for t in ins + outs:
            first.setdefault(t, step)
            last[t] = step
            size[t] = max(size.get(t, 0), -(-info.tensor(t).nbytes // 4) * 4)
    return max(
        (sum(size[t] for t in size if t not in io and first[t] <= s <= last[t]))
        for s in range(len(steps))
    )


@pytest.mark.parametrize("app", apps.APPS)
def test_codegen_arena_of_committed_models_within_planned_bound(tmp_path, app):
    """The generated arena of every committed model is at most the live-bytes bound of its
    graph: the plan reuses memory by lifetime and no conv output that only feeds a max pool
    is ever stored. (The firmware's whole RAM against arena + scratch: test_firmware.)"""
    from tinyml_utils.tflite.reader import model_info

    path = examples.reference_model_path(app)
    gen = codegen.generate(path, app, tmp_path)
    bound = _live_bound(model_info(path.read_bytes()))
    assert 0 < gen.arena_bytes <= bound, (app, gen.arena_bytes, bound)
    info = model_info(path.read_bytes())
    stored = sum(t.nbytes for t in info.tensors if not t.is_constant and not t.is_input)
    assert gen.arena_bytes < stored  # not every tensor is kept


def test_array_bytes_reads_our_array_and_xxds(tmp_path, cover_models):
    model = cover_models["cover1d"]
    exp = c_array.export_c_array(model, tmp_path, "m", arena_bytes=None)
    ours = exp.source.read_text()
    assert c_array.array_bytes(ours) == model
    xxd_style = (
        "unsigned char m_tflite[] = {\n  0x1c, 0x00, 0xff\n};\nunsigned int m_tflite_len = 3;\n"
    )
    assert c_array.array_bytes(xxd_style) == b"\x1c\x00\xff"
    assert c_array.declaration_lines(xxd_style) == [
        "unsigned char m_tflite[] = {",
        "unsigned int m_tflite_len = 3;",
    ]
    with pytest.raises(DataError, match="no `name"):
        c_array.array_bytes("int x = 1;")
