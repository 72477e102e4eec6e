"""TensorFlow Lite Micro on the emulated Cortex-M4F (QEMU mps2-an386) against the generated C.

The guard of benchmarks/mcu/peers.csv: each committed model (models/<app>/model_int8.tflite)
runs on the target as generated C and under TFLM with CMSIS-NN kernels (built once per
session by scripts/build_tflm.sh with only the kernels the four models need; cached in
build/tflm/), on real inputs (synthetic for carsensor: its shared folder holds no file the
loader reads). The generated C must equal LiteRT's reference kernels on every input, and
TFLM on the target on every input except where TFLM itself parts from LiteRT at a
FULLY_CONNECTED by one step (LiteRT's reference FULLY_CONNECTED requantizes in float, TFLM
in integers: LiteRT issue #8567; measured: 1 of 120 motionsense inputs, 3 of 120
music_genre inputs, none for carsensor and keyword spotting). Any other difference fails
test_generated_c_equals_tflm: the generated C must stay byte-equal to TFLM on the target.

CI cost, measured on the shared 2-core machine (load average ~20, i.e. ~10 jobs per core):
this file (11 tests, slow ones deselected), pytest -n 2, TFLM already in build/tflm/:
6 min 47 s wall but only 81 s of CPU (user + sys, compilers and QEMU included), so about
45-60 s on an idle 2-core runner. A cold build/ adds the TFLM library (framework + 5
kernels + 4 CMSIS-NN folders, 136 objects): 588 s wall here at load ~9, 73 s on an idle
2-core machine (../shared/vendor/tflm/README.md); the xdist workers share it (a lock per
cache key in scripts/build_tflm.sh). Expected extra CI wall on an idle runner: ~2-2.5 min.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tinyml_utils import apps
from tinyml_utils.core.errors import TinyMLError
from tinyml_utils.core.paths import repo_root, shared_data_dir
from tinyml_utils.deploy import (
    codegen,
    examples,
    op_resolver,
    reference,
    tflm_equivalence,
    tflm_target,
)
from tinyml_utils.deploy.op_resolver import model_ops
from tinyml_utils.tflite.interpreters import TFLMRunner
from tinyml_utils.tflite.reader import model_info

N_INPUTS = 120
#: at most this share of inputs may differ, and each only by the FULLY_CONNECTED step above.
#: The share depends on the model: 1 of 120 for motionsense, 14 of 120 for the music MLP
#: (57 -> 64 -> 10, whose outputs are mostly FULLY_CONNECTED requantizations).
MAX_FC_DIFFERENCES = 0.2
APPS = [a for a in apps.APPS if examples.reference_model_path(a).is_file()]


def _models() -> dict[str, bytes]:
    return {a: examples.reference_model_path(a).read_bytes() for a in APPS}


def test_kernel_files_and_int8_registrations():
    ops = sorted({op for m in _models().values() for op in model_ops(m)})
    files = tflm_target.kernel_files(ops)
    assert set(files) <= set(tflm_target.KERNEL_FILES.values())
    assert len(files) == len(set(files))
    with pytest.raises(TinyMLError, match="KERNEL_FILES"):
        tflm_target.kernel_files(["NOT_AN_OP"])
    model = _models()["motionsense"] if "motionsense" in APPS else next(iter(_models().values()))
    includes, calls = tflm_target.resolver_lines(model, int8=True)
    for op in model_ops(model):
        if op in op_resolver.INT8_REGISTRATIONS:
            assert any(op_resolver.INT8_REGISTRATIONS[op] in c for c in calls), calls
    assert len(calls) == len(model_ops(model))
    _, plain = tflm_target.resolver_lines(model, int8=False)
    assert not any("_INT8" in c for c in plain)


def _require(*tools: str) -> None:
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        from conftest import missing

        missing(f"tools not installed: {', '.join(absent)} (run scripts/install_firmware_tools.sh)")


@pytest.fixture(scope="session")
def tflm_cmsis_nn():
    _require("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm", "make", "gcc")
    ops = sorted({op for m in _models().values() for op in model_ops(m)})
    return tflm_target.library("cmsis_nn", ops)


@pytest.fixture(scope="session")
def counting_plugin(tmp_path_factory):
    _require("gcc", "qemu-system-arm")
    return tflm_target.build_plugin(tmp_path_factory.mktemp("plugin"))


_GEN: dict[str, tflm_target.TargetRun] = {}


def _generated_c(app, model, x, plugin, tmp_path_factory) -> tflm_target.TargetRun:
    """The generated C on the target, once per app and session."""
    if app not in _GEN:
        out = tmp_path_factory.mktemp(f"gen_{app}")
        _GEN[app] = tflm_target.measure_generated_c(model, app, x, out, plugin)
    return _GEN[app]


def _inputs(app: str, model: bytes) -> np.ndarray:
    if app != "carsensor":
        root = shared_data_dir()
        if root is None or not (root / app).is_dir():
            from conftest import app_data_dir

            app_data_dir(app)  # skips locally / fails in CI
    inputs = examples.app_inputs(app, N_INPUTS)
    if app != "carsensor":
        assert inputs.source.startswith("local"), inputs.source
    return reference.quantize_input(model, inputs.x).reshape(len(inputs.x), -1)


def _tflm_host(model: bytes, x: np.ndarray) -> np.ndarray:
    """int8 outputs of the tflite-micro Python runtime (TFLM's kernels on the host)."""
    host = TFLMRunner(model)
    shape = host.input_detail["shape"]
    return np.concatenate([host.invoke_one(r.reshape(shape)) for r in x]).reshape(len(x), -1)


@pytest.mark.firmware
@pytest.mark.parametrize("app", APPS)
def test_generated_c_equals_tflm(app, tflm_cmsis_nn, counting_plugin, tmp_path, tmp_path_factory):
    model = _models()[app]
    x = _inputs(app, model)
    gen = _generated_c(app, model, x, counting_plugin, tmp_path_factory)
    tflm = tflm_target.measure_tflm(tflm_cmsis_nn, model, x, tmp_path / "tflm", counting_plugin)
    assert gen.outputs.shape == tflm.outputs.shape == (len(x), gen.outputs.shape[1])
    y_ref = reference.reference_outputs(model, x)
    approx = codegen.generate(model, app, tmp_path / "check").approx_output
    litert = reference.compare(gen.outputs, y_ref, 1 if approx else 0)
    assert litert.ok, f"{app}: generated C on target != LiteRT reference: {litert.summary()}"
    if not approx:
        assert np.array_equal(gen.outputs, y_ref), f"{app}: generated C on target != LiteRT"
    assert np.array_equal(tflm.outputs, _tflm_host(model, x)), (
        f"{app}: TFLM on target != tflite-micro host"
    )
    reasons = tflm_equivalence.explain_differences(
        model, x, gen.outputs, tflm.outputs, y_ref, approx
    )
    fc = [i for i, why in reasons if why == "fc_requantization"]
    assert len(fc) <= MAX_FC_DIFFERENCES * len(x), f"{app}: {len(fc)} FC differences"
    unexplained = [i for i, why in reasons if why is None]
    assert not unexplained, (
        f"{app}: generated C differs from TFLM+CMSIS-NN on the target for inputs "
        f"{unexplained[:5]}, not explained by TFLM's integer FULLY_CONNECTED requantization "
        "or the generated softmax's one-step tolerance"
    )
    # what peers.csv reports is real: counts between the markers, per-op marks, arena on target
    assert 0 < gen.instructions < tflm.instructions
    assert tflm.instructions <= tflm.cycles < 3 * tflm.instructions
    assert [op["op"] for op in tflm.ops] == [op.name for op in model_info(model).subgraphs[0].ops]
    assert sum(op["instructions"] for op in tflm.ops) <= tflm.instructions * 1.05
    assert 0 < tflm.classes["arena_used"] <= tflm.arena_bytes
    assert tflm.ram > tflm.arena_bytes


@pytest.mark.firmware
@pytest.mark.parametrize("app", APPS)
def test_sketch_core_on_target_equals_tflm(app, tflm_cmsis_nn, tmp_path):
    """The committed sketch's own setup(), quantize() (on the float inputs) and Invoke()
    against the real TFLM on the target give exactly TFLM's outputs for the int8 inputs the
    workbook quantizes in Python (so the generated C's too, up to the FULLY_CONNECTED steps
    of test_generated_c_equals_tflm)."""
    folder = repo_root() / "firmware" / "arduino" / app
    if not folder.is_dir():
        pytest.skip(f"no committed sketch for {app}")
    model = _models()[app]
    x = _inputs(app, model)
    inputs = examples.app_inputs(app, N_INPUTS)
    got = tflm_equivalence.run_sketch_core(tflm_cmsis_nn, folder, inputs.x, tmp_path / "sketch")
    want = _tflm_host(model, x)
    assert got.shape == want.shape
    mismatched = np.flatnonzero((got != want).any(axis=1))
    assert mismatched.size == 0, f"{app}: sketch on target != TFLM for inputs {mismatched[:10]}"


@pytest.mark.firmware
def test_cycle_estimate_charges_trm_timings(counting_plugin, tmp_path):
    """Ten more iterations of ldr; ldr; smlad; subs; bne cost exactly 50 instructions and
    10 x (2 + 1 + 1 + 1 + 3) = 80 estimated cycles (firmware/tflm_target/cycles_check.c)."""
    from tinyml_utils.deploy import emulators, toolchains

    _require("arm-none-eabi-gcc", "qemu-system-arm")
    fw, cm = tflm_target.TFLM_DIR, tflm_target.CORTEX_M_DIR
    counts = {}
    for n in (10, 20):
        elf = tmp_path / f"cycles_{n}.elf"
        toolchains._run(
            [
                "arm-none-eabi-gcc",
                *toolchains.CORTEX_M4F_FLAGS,
                f"-DLOOP_N={n}",
                f"-I{cm}",
                str(cm / "startup.c"),
                str(cm / "semihost.c"),
                str(fw / "cycles_check.c"),
                "-T",
                str(cm / "mps2_an386.ld"),
                "-nostartfiles",
                "--specs=nano.specs",
                "-o",
                str(elf),
            ],
            "cycles_check build",
        )
        res = tflm_target._run_counted(elf, counting_plugin)
        counts[n] = (res["instructions"], res["cycles"])
        assert emulators.run_qemu(elf).returncode == 0
    assert counts[20][0] - counts[10][0] == 50
    assert counts[20][1] - counts[10][1] == 80


def test_cortex_m4_boards_have_a_clock():
    from tinyml_utils.deploy import target_bench

    clocks = target_bench.cortex_m4_clocks()
    assert clocks.get("nano33ble") == 64.0
    assert "uno" not in clocks and "pico" not in clocks  # AVR, Cortex-M0+


@pytest.mark.firmware
@pytest.mark.slow
def test_target_benchmark_reports_ms_at_board_clocks():
    from tinyml_utils.deploy import target_bench

    _require("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm", "make", "gcc")
    table = target_bench.target_benchmark(examples.reference_model_path("music_genre"), "mg")
    assert list(table.impl) == ["generated_c", "tflm_cmsis_nn"]
    row = table.iloc[0]
    assert row["ms_nano33ble_64mhz"] == round(row["cycles_estimate"] / 64e3, 3)
    assert (table.instructions > 0).all()
    assert table.instructions[0] < table.instructions[1]  # generated C < TFLM
