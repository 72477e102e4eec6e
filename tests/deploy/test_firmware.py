"""Firmware: each app's model (models/<app>/model_int8.tflite, the reference model, when it
exists) as generated C on the host (gcc, sanitizers; portable and DSP-emulated kernels), on
an emulated Cortex-M4F (QEMU mps2-an386: the DSP assembly) and on an emulated Arduino
(simavr: the portable kernels), compared byte for byte with TFLite's reference kernels on
>= 100 real inputs (CarSensor: the TMD recordings).

Everything is built once per session (fixtures); missing toolchains skip locally and fail
in CI (conftest.require_tool)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from tinyml_utils import apps
from tinyml_utils.core.paths import repo_root, shared_data_dir
from tinyml_utils.deploy import codegen, emulators, examples, reference, toolchains

N_INPUTS = 120
N_AVR = 12  # inputs embedded in the Arduino sketch (flash is small)

pytestmark = pytest.mark.firmware


@dataclass
class Case:
    app: str
    model: bytes
    x_int8: np.ndarray
    y_ref: np.ndarray
    gen: codegen.GeneratedModel
    source: str

    @property
    def tolerance(self) -> int:
        return 1 if self.gen.approx_output else 0


_CASES: dict[str, Case] = {}


@pytest.fixture(scope="session")
def firmware_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("firmware")


@pytest.fixture
def case(request, firmware_dir) -> Case:
    app = request.param
    if app not in _CASES:
        root = shared_data_dir()
        if root is None or not (root / app).is_dir():
            from conftest import app_data_dir

            app_data_dir(app)  # skips locally / fails in CI
        model, description = examples.app_model(app)
        if examples.reference_model_path(app).is_file():  # the reference model, when it exists
            assert description.startswith("reference model"), description
            assert model == examples.reference_model_path(app).read_bytes()
        inputs = examples.app_inputs(app, N_INPUTS)
        assert len(inputs.x) >= 100, f"{app}: only {len(inputs.x)} inputs"
        assert inputs.source.startswith("local"), inputs.source
        x = reference.quantize_input(model, inputs.x).reshape(len(inputs.x), -1)
        gen = codegen.generate(model, app, firmware_dir / app)
        _CASES[app] = Case(app, model, x, reference.reference_outputs(model, x), gen, inputs.source)
    return _CASES[app]


def _check(case: Case, got: np.ndarray, n: int | None = None) -> None:
    want = case.y_ref[: len(got)] if n is None else case.y_ref[:n]
    result = reference.compare(got, want, case.tolerance)
    assert result.ok, f"{case.app}: {result.summary()}"
    if case.tolerance == 0:
        assert np.array_equal(got, want)


@pytest.mark.parametrize("case", apps.APPS, indirect=True)
def test_host_bit_exact(case, require_tool):
    require_tool("gcc")
    for dsp in (False, True):
        build = toolchains.build_host(case.gen, dsp_emulate=dsp)
        assert "-Werror" in build.command and "-std=c99" in build.command
        got = toolchains.run_host(build, case.x_int8, case.gen.output_size)
        assert len(got) >= 100
        _check(case, got)


@pytest.mark.parametrize("case", apps.APPS, indirect=True)
def test_host_sanitizers(case, require_tool):
    require_tool("gcc")
    build = toolchains.build_host(case.gen, sanitize=True, dsp_emulate=True)
    assert "-fsanitize=address,undefined" in build.command
    got = toolchains.run_host(build, case.x_int8, case.gen.output_size)
    _check(case, got)


@pytest.mark.parametrize("case", apps.APPS, indirect=True)
def test_cortex_m4_on_qemu(case, require_tool, firmware_dir):
    require_tool("arm-none-eabi-gcc", "qemu-system-arm")
    build = toolchains.build_cortex_m(
        case.gen, case.x_int8, case.y_ref, firmware_dir / case.app / "arm", main="test"
    )
    assert build.flash > case.gen.weights_bytes and build.ram >= case.gen.arena_bytes
    # static RAM is what the generator planned: the arena, the DSP scratch and the firmware's
    # output buffer, in words, each array possibly 8-aligned by the compiler (4 bytes of
    # padding); nothing else of the model lives in RAM
    words = max(-(-case.gen.arena_bytes // 4), 1) + -(-case.gen.scratch_bytes // 4)
    planned = 4 * (words + -(-case.gen.output_size // 4)) + 3 * 4
    assert build.ram <= planned, f"{case.app}: RAM {build.ram} B > planned {planned} B"
    peers = repo_root() / "benchmarks" / "mcu" / "peers.csv"
    if peers.is_file():  # the TFLM + CMSIS-NN firmware measured on the same board
        table = pd.read_csv(peers)
        tflm = table[(table.app == case.app) & (table.impl == "tflm_cmsis_nn")].ram_bytes
        assert len(tflm) == 1 and build.ram <= 0.7 * float(tflm.iloc[0]), (build.ram, tflm)
    run = emulators.run_qemu(build.path, timeout=240)
    assert run.returncode == 0, run.output
    assert f"{len(case.x_int8)} test inputs" in run.output and "PASS" in run.output


def _avr_build(case: Case, out_dir):
    last = None
    for board in ("uno", "mega"):
        try:
            return toolchains.build_avr(
                case.gen, case.x_int8[:N_AVR], case.y_ref[:N_AVR], out_dir, board
            )
        except toolchains.BuildError as exc:
            last = exc
    pytest.skip(f"{case.app} fits neither the Uno nor the Mega: {str(last)[-300:]}")


@pytest.mark.parametrize("case", ["carsensor", "music_genre", "motionsense"], indirect=True)
def test_arduino_on_simavr(case, require_tool, firmware_dir):
    require_tool("arduino-builder", "avr-gcc", "simavr")
    build = _avr_build(case, firmware_dir / case.app / "avr")
    if case.app == "carsensor":
        assert build.board == "uno", "CarSensor must fit the Arduino Uno"
    mcu = toolchains.AVR_BOARDS[build.board][1]
    run = emulators.run_simavr(build.path, mcu=mcu, timeout=240)
    rows = re.findall(r"^y (\d+):((?: -?\d+)+) us \d+$", run.output, re.M)
    assert len(rows) == N_AVR, run.output[-2000:]
    got = np.array([[int(v) for v in vals.split()] for _, vals in rows], dtype=np.int8)
    _check(case, got, N_AVR)
    assert "mismatches 0" in run.output and "DONE" in run.output


def test_install_script_is_idempotent_and_lists_packages():
    text = (repo_root() / "scripts" / "install_firmware_tools.sh").read_text()
    for pkg in (
        "gcc-arm-none-eabi",
        "libnewlib-arm-none-eabi",
        "qemu-system-arm",
        "simavr",
        "arduino-builder",
        "arduino-core-avr",
        "gcc-avr",
        "libstdc++-arm-none-eabi-newlib",
        "avr-libc",
    ):
        assert pkg in text
    assert "apt_install.sh" in text
    helper = (repo_root() / "scripts" / "apt_install.sh").read_text()
    assert "apt-get update" in helper and "sudo" in helper
    if all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm", "simavr")):
        import subprocess

        out = subprocess.run(
            ["bash", str(repo_root() / "scripts" / "install_firmware_tools.sh")],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "all firmware tools present" in out.stdout
