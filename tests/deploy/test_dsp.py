"""deploy: the Cortex-M DSP kernels (tinyml_kernels_dsp.h) on every code path.

Small int8 models chosen so that, together, they take every variant the generator picks:
widened input (plain, twin rows) and im2col, asm loads LDRD / LDR and the C loop, row tails,
odd channel counts, dilation, batched and per-tensor FULLY_CONNECTED, and the four
requantizations. Each is compared byte for byte with TFLite's reference kernels twice: on the
host with the DSP instructions emulated in C (-DTML_DSP_EMULATE), and on the emulated
Cortex-M4F (QEMU), where the assembly micro-kernels run. A C unit test checks the one-step
requantization against TFLite's two-step arithmetic on edge cases and exact ties.
"""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from tinyml_utils.deploy import codegen, emulators, reference, toolchains

N_INPUTS = 60


def _convert(model, x, per_tensor: bool = False) -> bytes:
    from tinyml_utils.core.tf import tf
    from tinyml_utils.tflite.convert import convert, representative_dataset

    if not per_tensor:
        return convert(model, "int8", x)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative_dataset(x)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    conv._experimental_disable_per_channel = True  # per-tensor conv and dense weights
    return conv.convert()


def _build_models() -> dict[str, bytes]:
    from tinyml_utils.core.tf import keras, tf

    L = keras.layers
    rng = np.random.default_rng(3)
    tf.keras.utils.set_random_seed(3)
    models = {}
    # twin rows (in_c 3, stride 1), odd out_c, row tails (42 % 4), dilation (im2col),
    # FULLY_CONNECTED over 38 rows (batches), odd FC sizes
    inp = L.Input((42, 3))
    c1 = L.Conv1D(5, 3, padding="same", activation="relu")(inp)
    c2 = L.Conv1D(8, 3, dilation_rate=2, activation="relu")(c1)
    d3 = L.Dense(6)(c2)
    out = L.Dense(3)(L.Flatten()(d3))
    x = rng.normal(size=(200, 42, 3)).astype("float32")
    models["paths1d"] = _convert(keras.Model(inp, out), x)
    # wide odd rows (asm LDR), in_c 140 with k 5 (im2col, offsets beyond LDR: C loop)
    inp = L.Input((200, 3))
    c1 = L.Conv1D(4, 3, activation="relu")(inp)
    c2 = L.Conv1D(140, 1)(c1)
    c3 = L.Conv1D(4, 5, strides=4)(c2)
    out = L.Dense(2)(L.GlobalAveragePooling1D()(c3))
    x = rng.normal(size=(200, 200, 3)).astype("float32")
    models["wide"] = _convert(keras.Model(inp, out), x)
    # 2-D: odd widths (tails), stride 2, SAME padding on both axes, max pool with padding
    inp = L.Input((9, 11, 2))
    c1 = L.Conv2D(6, 3, padding="same", activation="relu")(inp)
    c2 = L.Conv2D(4, 3, strides=2, padding="same")(c1)
    m = L.MaxPooling2D(2, padding="same")(c2)
    out = L.Dense(4)(L.Flatten()(m))
    x = rng.normal(size=(200, 9, 11, 2)).astype("float32")
    models["paths2d"] = _convert(keras.Model(inp, out), x)
    # kernels spanning the whole width slide along H only: Conv1D as Keras exports it
    # ((T, 1, C) with (k, 1) kernels), and a 3 x 3 kernel on a 3-wide input
    inp = L.Input((30, 1, 3))
    c1 = L.Conv2D(4, (5, 1), padding="same", activation="relu")(inp)
    c2 = L.Conv2D(6, (3, 1), strides=(2, 1))(c1)
    wide = L.Reshape((14, 3, 2))(c2)
    c3 = L.Conv2D(5, 3)(wide)
    out = L.Dense(3)(L.Flatten()(c3))
    x = rng.normal(size=(200, 30, 1, 3)).astype("float32")
    models["along_h"] = _convert(keras.Model(inp, out), x)
    # per-tensor weights; a difference filter on smooth inputs has a tiny output scale, so
    # its requantization multiplies (shift >= 0: the two-step path)
    inp = L.Input((16, 2))
    diff = L.Conv1D(1, 2, use_bias=False)
    c1 = diff(inp)
    out = L.Dense(4)(L.Flatten()(L.Conv1D(3, 3, activation="relu")(inp)))
    model = keras.Model(inp, [c1, out][0])
    diff.set_weights([np.array([[[1.0], [0.0]], [[-1.0], [0.0]]], np.float32)])
    level = rng.uniform(-10, 10, size=(200, 1, 2))
    x = (level + 0.001 * rng.normal(size=(200, 16, 2))).astype("float32")
    models["per_tensor_diff"] = _convert(model, x, per_tensor=True)
    models["per_tensor_fc"] = _convert(keras.Model(inp, out), x, per_tensor=True)
    # CONV_2D + MAX_POOL_2D fused (pooled on the fly): 1-D along H with rows no window covers
    # and a band split into chunks (the last one shorter), a kernel sliding along H only
    inp = L.Input((42, 1, 4))
    c1 = L.Conv2D(16, (5, 1), padding="same", activation="relu")(inp)
    m1 = L.MaxPooling2D((4, 1))(c1)
    c2 = L.Conv2D(8, (3, 1))(m1)
    m2 = L.MaxPooling2D((2, 1))(c2)
    out = L.Dense(3)(L.Flatten()(m2))
    x = rng.normal(size=(200, 42, 1, 4)).astype("float32")
    models["fused1d"] = _convert(keras.Model(inp, out), x)
    # 2-D: twin rows with chunks, an uncovered row and column, then a dilated (im2col)
    # convolution pooled by 2 x 3 windows (a 2-pixel block tail)
    inp = L.Input((9, 13, 3))
    c1 = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    m1 = L.MaxPooling2D(2)(c1)
    c2 = L.Conv2D(12, 3, dilation_rate=2, padding="same")(m1)
    m2 = L.MaxPooling2D((2, 3))(c2)
    out = L.Dense(3)(L.Flatten()(m2))
    x = rng.normal(size=(200, 9, 13, 3)).astype("float32")
    models["fused2d"] = _convert(keras.Model(inp, out), x)
    # FULLY_CONNECTED with int16 weights: inputs of 9 (one value past a group of 4), 7 and
    # 10 values, row tails of 3 and 1 (batched: the input is 2 x 9)
    inp = L.Input((2, 9))
    d1 = L.Dense(7, activation="relu")(inp)
    d2 = L.Dense(5)(d1)
    out = L.Dense(4)(L.Flatten()(d2))
    x = rng.normal(size=(200, 2, 9)).astype("float32")
    models["fc_tails"] = _convert(keras.Model(inp, out), x)
    return models


@pytest.fixture(scope="module")
def dsp_models() -> dict[str, bytes]:
    return _build_models()


@pytest.fixture(scope="module")
def generated(dsp_models, tmp_path_factory):
    """Every model generated twice: default layout choice, and im2col forced everywhere."""
    out = tmp_path_factory.mktemp("dsp")
    rng = np.random.default_rng(5)
    cases = {}
    for name, data in dsp_models.items():
        for im2col in (False, True):
            key = f"{name}_im2col" if im2col else name
            limit = 0 if im2col else codegen.EXPAND_LIMIT_BYTES
            fc_limit = 0 if im2col else codegen.FC_WIDE_LIMIT_BYTES  # int8 FC weights
            gen = codegen.generate(
                data, key, out / key, expand_limit_bytes=limit, fc_wide_limit_bytes=fc_limit
            )
            x = rng.integers(-128, 128, size=(N_INPUTS, gen.input_size), dtype=np.int8)
            cases[key] = (gen, x, reference.reference_outputs(data, x))
    return cases


def test_models_cover_every_dsp_path(generated):
    variants = " | ".join(
        layer.get("dsp", "") for gen, _, _ in generated.values() for layer in gen.layers
    )
    for what in (
        "widened input (twin rows)",
        "widened input, asm LDRD",
        "as 1-D along H",
        "im2col",
        "asm LDR,",
        "C loop",
        "4-instruction requant",
        "2-step requant",
        "3-instruction double requant",
        "int16 weights",
        "SSUB8",
        "max pool on the fly",
        "banded rows",
    ):
        assert what in variants, f"no layer takes the {what!r} path: {variants}"
    details = [layer["detail"] for gen, _, _ in generated.values() for layer in gen.layers]
    assert any(" x 38" in d for d in details), "no batched FULLY_CONNECTED"
    fc = [
        (int(la["detail"].split(" -> ")[0]), int(la["detail"].split(" -> ")[1].split()[0]))
        for gen, _, _ in generated.values()
        for la in gen.layers
        if "int16 weights" in la.get("dsp", "")
    ]
    assert {n % 4 for n, _ in fc} == {0, 1, 2, 3}, f"int16-weight FC input lengths: {fc}"
    assert {u % 4 for _, u in fc} == {0, 1, 2, 3}, f"int16-weight FC row tails: {fc}"
    # "64-bit double requant" (ties possible or scales >= 1/2): tml_rq unit test below


def _check(gen, got, want):
    result = reference.compare(got, want, tolerance=1 if gen.approx_output else 0)
    assert result.ok, f"{gen.name}: {result.summary()}"
    assert result.equal_bytes == result.total_bytes, f"{gen.name}: {result.summary()}"


def test_dsp_emulated_on_host_is_bit_exact(generated, require_tool):
    require_tool("gcc")
    for gen, x, want in generated.values():
        build = toolchains.build_host(gen, dsp_emulate=True)
        _check(gen, toolchains.run_host(build, x, gen.output_size), want)


def test_fused_conv_pool_portable_on_host_is_bit_exact(generated, require_tool):
    """The portable kernels compute the fused CONV_2D + MAX_POOL_2D too (one memory plan
    serves both builds): no conv output tensor in the plan, same bytes as TFLite."""
    require_tool("gcc")
    for key in ("fused1d", "fused2d", "fused1d_im2col"):
        gen, x, want = generated[key]
        pooled = [layer for layer in gen.layers if "max pool on the fly" in layer.get("dsp", "")]
        assert len(pooled) == 2 and "MAX_POOL_2D" not in [la["op"] for la in gen.layers]
        build = toolchains.build_host(gen, dsp_emulate=False)
        _check(gen, toolchains.run_host(build, x, gen.output_size), want)


def test_dsp_asm_on_cortex_m4_is_bit_exact(generated, require_tool):
    """The real SMLAD/LDRD assembly, on QEMU's Cortex-M4F: every output byte as TFLite's.
    Two models also at -Os (Arduino's level) and -O0 (the C loops replace the assembly
    micro-kernels when the shapes are not compile-time constants)."""
    require_tool("arm-none-eabi-gcc", "qemu-system-arm")
    builds = [(key, ()) for key in generated]
    builds += [(key, (opt,)) for key in ("paths1d", "along_h", "fused2d") for opt in ("-Os", "-O0")]
    for key, flags in builds:
        gen, x, want = generated[key]
        where = gen.out_dir / ("arm" + "".join(flags))
        build = toolchains.build_cortex_m(gen, x, want, where, main="test", extra_flags=flags)
        run = emulators.run_qemu(build.path, timeout=120)
        assert run.returncode == 0 and "PASS" in run.output, f"{key} {flags}:\n{run.output}"


# ----------------------------------------------------------------------------- requantization


def _mbqm(x: int, m: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier in Python integers (the two roundings)."""
    left, right = max(shift, 0), max(-shift, 0)
    xs = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)
    ab = xs * m
    srdhm = (ab + (1 << 30)) >> 31  # gemmlowp: round half up (m > 0, no saturation)
    if right == 0:
        return srdhm
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if srdhm < 0 else 0)
    return (srdhm >> right) + (1 if (srdhm & mask) > threshold else 0)


def _round_away(q: Fraction) -> int:
    return int(math.copysign(math.floor(abs(q) + Fraction(1, 2)), q))


def _requant_cases(rng) -> tuple[list, int]:
    """(kind, tml_chan row, acc, zp the C code adds, expected int8) and the number of exact
    ties of the second rounding among them."""
    cases, ties = [], 0
    edges = [0, 1, -1, 2, -2, 127, -128, (1 << 31) - 1, -(1 << 31), 1 << 30, -(1 << 30)]
    for i in range(500):
        kind = ("fast", "fast32", "gemmlowp", "double64", "double_s")[i % 5]
        zp = int(rng.integers(-128, 128))
        accs = edges + [int(v) for v in rng.integers(-(1 << 24), 1 << 24, 8)]
        if kind == "double_s":  # the generator proved |acc| <= bound and no exact tie
            scale = float(2.0 ** rng.uniform(-12, -1.01))
            mant, e = math.frexp(scale)
            full = int(mant * 2**53)
            bound = 1 << 24
            rq, rows = codegen.double_chans([0], [full >> 32], [full & 0xFFFFFFFF], [53 - e], bound)
            assert rq == codegen.RQ_DOUBLE_S, scale
            exact, add_zp = Fraction(full, 1 << (53 - e)), zp
            accs = [a for a in accs if abs(a) <= bound] + [bound, -bound]
            for k in (0, 1, -1, 7, -8):  # accumulators just around a half
                centre = int((k + Fraction(1, 2)) / exact)
                accs += [a for a in range(centre - 2, centre + 3) if abs(a) <= bound]
            want = [_round_away(a * exact) + zp for a in accs]
        elif kind == "double64":
            scale = float(2.0 ** rng.uniform(-12, -0.01))
            mant, e = math.frexp(scale)
            full = int(mant * 2**53)
            rq, rows = codegen.double_chans([0], [full >> 32], [full & 0xFFFFFFFF], [53 - e])
            assert rq == codegen.RQ_DOUBLE64
            exact, add_zp = Fraction(full, 1 << (53 - e)), zp
            want = [_round_away(a * exact) + zp for a in accs]
        else:
            m = int(rng.integers(1 << 30, 1 << 31))
            shift = int(rng.integers(0, 3)) if kind == "gemmlowp" else int(rng.integers(-26, 0))
            if kind == "fast32":  # the generator proved |acc| < 2^30
                shift = max(shift, -22)
                accs = [a for a in accs if abs(a) < (1 << 30)] + [(1 << 30) - 1, 1 - (1 << 30)]
            bound = (1 << 30) - 1 if kind == "fast32" else None
            rq, rows, folded = codegen.gemmlowp_chans([0], [m], [shift], zp, bound)
            want_rq = {"fast": codegen.RQ_FAST, "fast32": codegen.RQ_FAST32}
            assert rq == want_rq.get(kind, codegen.RQ_GEMMLOWP)
            add_zp = 0 if folded else zp
            r = -shift
            if kind != "gemmlowp":  # accumulators whose SRDHM result is an exact tie for RDBPOT
                for k in (0, 1, -1, -2, 5, -6):
                    target = k * (1 << r) + (1 << (r - 1))
                    guess = ((target << 31) - (1 << 30)) // m
                    limit = 1 << (30 if kind == "fast32" else 31)
                    for a in range(guess - 2, guess + 3):
                        if -limit <= a < limit:
                            accs.append(a)
                            ties += ((a * m + (1 << 30)) >> 31) == target
            want = [_mbqm(a, m, shift) + zp for a in accs]
        for a, w in zip(accs, want, strict=True):
            cases.append((rq, rows[0], a, add_zp, max(-128, min(127, w))))
    return cases, ties


REQUANT_MAIN = r"""
#include <stdint.h>
#include "tinyml_kernels_dsp.h"
#include "rq_cases.h"
#ifdef ON_TARGET
#include "semihost.h"
#else
#include <stdio.h>
#endif
int main(void) {
  int i, bad = 0;
  for (i = 0; i < RQ_N; ++i) {
    const tml_chan *k = &rq_chans[i];
    int32_t v;
    switch (rq_kind[i]) {
      case TML_RQ_FAST: v = tml_rq(TML_RQ_FAST, k, rq_acc[i]); break;
      case TML_RQ_FAST32: v = tml_rq(TML_RQ_FAST32, k, rq_acc[i]); break;
      case TML_RQ_GEMMLOWP: v = tml_rq(TML_RQ_GEMMLOWP, k, rq_acc[i]); break;
      case TML_RQ_DOUBLE_S: v = tml_rq_ds(k, rq_acc[i], rq_zp[i]); break; /* zp folded */
      default: v = tml_rq(TML_RQ_DOUBLE64, k, rq_acc[i]); break;
    }
    if (rq_kind[i] != TML_RQ_DOUBLE_S) v += rq_zp[i];
    v = v < -128 ? -128 : (v > 127 ? 127 : v);
    if (v != rq_want[i]) {
      ++bad;
#ifndef ON_TARGET
      printf("case %d: got %ld want %d\n", i, (long)v, rq_want[i]);
#endif
    }
  }
#ifdef ON_TARGET
  sh_write0(bad ? "FAIL\n" : "PASS\n");
#else
  printf("%d cases, %d wrong\n", RQ_N, bad);
#endif
  return bad ? 1 : 0;
}
"""


def _write_requant_sources(out) -> tuple[int, int]:
    cases, ties = _requant_cases(np.random.default_rng(11))
    out.mkdir(parents=True, exist_ok=True)
    for f in codegen.RUNTIME_FILES:
        (out / f).write_bytes((codegen.RUNTIME_DIR / f).read_bytes())
    rows = ",\n".join(
        "{" + ", ".join(codegen.c_int32(v) for v in row) + "}" for _, row, _, _, _ in cases
    )
    (out / "rq_cases.h").write_text(
        f"#define RQ_N {len(cases)}\n"
        f"static const tml_chan rq_chans[RQ_N] = {{\n{rows}\n}};\n"
        f"static const int rq_kind[RQ_N] = {{{', '.join(str(c[0]) for c in cases)}}};\n"
        "static const int32_t rq_acc[RQ_N] = {"
        + ", ".join(codegen.c_int32(c[2]) for c in cases)
        + "};\n"
        f"static const int rq_zp[RQ_N] = {{{', '.join(str(c[3]) for c in cases)}}};\n"
        f"static const int rq_want[RQ_N] = {{{', '.join(str(c[4]) for c in cases)}}};\n"
    )
    (out / "rq_main.c").write_text(REQUANT_MAIN)
    return len(cases), ties


def test_signed_double_requant_only_without_ties():
    """The signed form rounds halves up, TFLite away from zero: chosen only when no
    accumulator within the bound can hit an exact half (or the scale is >= 1/2)."""
    # s = 1/4 + 2^-20: acc * s is a half for acc = 2^19 (v(s * 2^64) = 44, 44 + 19 = 63)
    s64 = (1 << 62) + (1 << 44)
    assert not codegen.no_tie(s64, 1 << 19) and codegen.no_tie(s64, (1 << 19) - 1)
    assert (1 << 19) * s64 % (1 << 64) == 1 << 63
    mant = s64 >> 11  # s = mant * 2^-53
    args = ([0], [mant >> 32], [mant & 0xFFFFFFFF], [53])
    assert codegen.double_chans(*args, bound=1 << 20)[0] == codegen.RQ_DOUBLE64
    rq, rows = codegen.double_chans(*args, bound=(1 << 19) - 1)
    assert rq == codegen.RQ_DOUBLE_S and rows[0][2] * (1 << 32) + rows[0][1] == s64
    assert codegen.double_chans(*args)[0] == codegen.RQ_DOUBLE64  # no bound known
    big = ([0], [mant >> 32], [mant & 0xFFFFFFFF], [52])  # s >= 1/2
    assert codegen.double_chans(*big, bound=100)[0] == codegen.RQ_DOUBLE64


def test_one_step_requantization_equals_tflite(tmp_path, require_tool):
    """tml_rq (1-step nudge form, 4-instruction SMMLAR form, 2-step form, 64-bit double form,
    signed double form with the zero point folded) against TFLite's
    arithmetic written in Python, incl. INT32_MIN/MAX and exact ties of the second rounding:
    on the host (C emulation) and on the Cortex-M4 (SMLAL / UMAAL assembly)."""
    require_tool("gcc")
    n, ties = _write_requant_sources(tmp_path)
    assert n > 4000 and ties > 200, (n, ties)
    exe = tmp_path / "rq_host"
    subprocess.run(
        ["gcc", *toolchains.HOST_FLAGS, "-DTML_DSP_EMULATE", f"-I{tmp_path}"]
        + [str(tmp_path / "rq_main.c"), str(tmp_path / "tinyml_kernels.c"), "-o", str(exe)],
        check=True,
    )
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]
    require_tool("arm-none-eabi-gcc", "qemu-system-arm")
    fw = toolchains.FIRMWARE_DIR / "cortex_m"
    elf = tmp_path / "rq.elf"
    subprocess.run(
        ["arm-none-eabi-gcc", *toolchains.CORTEX_M4F_FLAGS, "-DON_TARGET", f"-I{tmp_path}"]
        + [f"-I{fw}", str(fw / "startup.c"), str(fw / "semihost.c")]
        + [str(tmp_path / "rq_main.c"), str(tmp_path / "tinyml_kernels.c")]
        + ["-T", str(fw / "mps2_an386.ld"), "-nostartfiles", "--specs=nano.specs"]
        + ["-Wl,--gc-sections", "-o", str(elf)],
        check=True,
    )
    run = emulators.run_qemu(elf, timeout=60)
    assert run.returncode == 0 and "PASS" in run.output, run.output
