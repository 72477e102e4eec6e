#!/usr/bin/env python
"""The generated C next to TensorFlow Lite Micro on the same emulated Cortex-M4F.

    .venv/bin/python scripts/benchmark_peers.py [--apps carsensor ...] [--n 120] [--out benchmarks/mcu]

For each app's committed model (models/<app>/model_int8.tflite): the generated C
(tinyml_utils.deploy.codegen, DSP kernels) and TFLM 90b983c2 with CMSIS-NN 4ab83cc3 kernels
and with its reference kernels (scripts/build_tflm.sh: only the kernels the models need,
int8-only registrations), all built with Debian's arm-none-eabi-gcc 12.2 for
-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard and run on qemu-system-arm -M mps2-an386
with the counting plugin (firmware/cortex_m/qemu_insn_plugin.c). Writes peers.csv (one row
per app x implementation), peers_ops.csv (per op), peers.md and peers.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the Agg backend)
import numpy as np
import pandas as pd
from tqdm import tqdm

from tinyml_utils import apps
from tinyml_utils.core.paths import repo_root
from tinyml_utils.deploy import codegen, examples, reference, tflm_equivalence, tflm_target
from tinyml_utils.deploy.op_resolver import model_ops
from tinyml_utils.tflite.tflm import measure_arena

IMPLS = ("generated_c", "tflm_cmsis_nn", "tflm_reference")
CLOCK_HZ = 64_000_000  # nRF52840 (Arduino Nano 33 BLE Sense)

NOTE = """# Generated C vs TensorFlow Lite Micro on the same Cortex-M4F

Written by `scripts/benchmark_peers.py` (one run; reproduce with
`.venv/bin/python scripts/benchmark_peers.py`). Each committed int8 model
(`models/<app>/model_int8.tflite`) three ways, on the same emulated board (`qemu-system-arm
-M mps2-an386`, Cortex-M4F), same compiler (Debian arm-none-eabi-gcc 12.2, `-mcpu=cortex-m4
-mfpu=fpv4-sp-d16 -mfloat-abi=hard`), same start-up code, markers and counting plugin:

* `generated_c`: the workbook's generated C99 (`tinyml_utils.deploy.codegen`, DSP kernels,
  `-O2`);
* `tflm_cmsis_nn`: TensorFlow Lite Micro {tflm} with CMSIS-NN {cmsis_nn} kernels, built by
  TFLM's own Makefile (`scripts/build_tflm.sh`, `BUILD_TYPE=release`: framework `-Os`,
  kernels `-O2`), a `MicroMutableOpResolver` with the model's ops and int8-only registrations
  (`Register_CONV_2D_INT8()` etc., what the workbook's sketches register);
* `tflm_reference`: the same TFLM with its portable reference kernels.

Columns:
* `instructions`: EXACT count of instructions executed by one inference (input 0, after one
  warm-up inference), between two marker calls, counted by the QEMU TCG plugin. For TFLM
  that is one `Invoke()` (input copied before the marker); the generated C's `invoke()`
  includes its input copy.
* `cycles_estimate`: an ESTIMATE, not a measurement (QEMU has no timing model): each executed
  instruction charged its cycle count from the Cortex-M4 Technical Reference Manual (ARM DDI
  0439, table 3-1; FPU table 7-1): ALU 1, MUL/MLA/SMLAD/SMULL 1, LDR/STR 2 (1 when pipelined
  behind a load), LDRD/STRD 3, LDM/STM/PUSH/POP 1+N, taken branches 1+P with P = 2 (the TRM
  gives 1..3), not-taken conditional branches 1, SDIV 7 (2..12), IT 1. **Zero flash wait
  states** (code and constants in zero-wait-state memory, as the emulated board's SSRAM; a
  part running from flash with wait states and no cache/accelerator takes more).
  `ms_at_64mhz` = cycles_estimate / 64 MHz (the nRF52840's clock).
* `flash_bytes` = text + data, `ram_bytes` = data + bss of the whole firmware (start-up code
  and semihosting included, the same for all three; the embedded test inputs excluded; stack
  not included). TFLM's RAM includes its tensor arena at exactly `arena_bytes`, the
  interpreter and the op resolver.
* `arena_bytes`: TFLM: the smallest arena for which `AllocateTensors()` and `Invoke()`
  succeed, found by bisection **on the 32-bit target**; `host_arena_bytes` is what the 64-bit
  host runtime (`tflite_micro` Python package, `tinyml_utils.analyze.tflm.measure_arena`)
  needs for the same model (pointers and pointer-holding structs are twice as large there).
  Generated C: its static activation plan (input and output buffers excluded; its DSP
  scratch buffer is in `ram_bytes`).
* `outputs_equal`: the int8 outputs of all `n_inputs` inputs are byte-identical to the
  generated C's on the target (for `generated_c`: to `tflm_cmsis_nn`'s); `inputs_differing`:
  on how many inputs they are not; `equal_to_litert`: byte-identical to LiteRT's reference
  kernels on the host, `max_diff_to_litert` the largest gap. The generated C reproduces
  LiteRT's reference kernels byte for byte, except that its SOFTMAX/LOGISTIC output may be
  one step off (the tolerance its firmware tests allow: it computes the exponential in fixed
  point its own way).
  TFLM (both kernel sets agree with each other) parts from them at FULLY_CONNECTED now and
  then: LiteRT's reference FULLY_CONNECTED requantizes in float, TFLM in integers (LiteRT
  issue #8567), so an FC output is one step apart for some inputs, which the following
  layers may carry to the model output. `differences_explained` = every differing input's
  first differing tensor (LiteRT reference vs the tflite-micro runtime, op by op,
  `tinyml_utils.deploy.tflm_equivalence.first_divergence`) is a FULLY_CONNECTED output one
  step apart, or TFLM equals LiteRT there and the generated softmax is within one step
  (`explain_differences`). `tests/deploy/test_tflm_target.py` fails on any other difference.
* Inputs: {inputs}.
"""


def _plot(table: pd.DataFrame, path: Path) -> None:
    apps_ = list(dict.fromkeys(table.app))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    width = 0.27
    colors = {"generated_c": "#2a9d8f", "tflm_cmsis_nn": "#e9c46a", "tflm_reference": "#e76f51"}
    for ax, col, title, log in (
        (axes[0], "cycles_estimate", "estimated cycles / inference (log)", True),
        (axes[1], "flash_bytes", "flash (bytes)", False),
        (axes[2], "ram_bytes", "RAM: data + bss (bytes)", False),
    ):
        for k, impl in enumerate(IMPLS):
            vals = [table[(table.app == a) & (table.impl == impl)][col].iloc[0] for a in apps_]
            ax.bar(
                np.arange(len(apps_)) + (k - 1) * width, vals, width, label=impl, color=colors[impl]
            )
        ax.set_xticks(np.arange(len(apps_)), apps_, rotation=20, fontsize=8)
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("Cortex-M4F (QEMU mps2-an386): generated C vs TensorFlow Lite Micro", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", nargs="*", default=None)
    parser.add_argument("--n", type=int, default=120, help="real inputs per app")
    parser.add_argument("--out", default=str(repo_root() / "benchmarks" / "mcu"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app_list = args.apps or [a for a in apps.APPS if examples.reference_model_path(a).is_file()]
    models = {a: examples.reference_model_path(a).read_bytes() for a in app_list}
    ops = sorted({op for m in models.values() for op in model_ops(m)})
    start = time.perf_counter()
    libs = {kind: tflm_target.library(kind, ops) for kind in tflm_target.KINDS}
    print(f"TFLM libraries ({', '.join(ops)}) ready in {time.perf_counter() - start:.0f} s")
    rows, op_rows, sources = [], [], []
    with tempfile.TemporaryDirectory(prefix="peers_") as tmp:
        plugin = tflm_target.build_plugin(tmp)
        for app in tqdm(app_list, desc="apps"):
            model = models[app]
            inputs = examples.app_inputs(app, args.n)
            kind = inputs.source.split(":")[0]  # "local:<folder>" -> "local" (no paths in files)
            where = f"real, ../shared/data/{app}" if kind == "local" else kind
            sources.append(f"{app}: {len(inputs.x)} inputs ({where})")
            x = reference.quantize_input(model, inputs.x).reshape(len(inputs.x), -1)
            y_ref = reference.reference_outputs(model, x)
            runs = {
                "generated_c": tflm_target.measure_generated_c(
                    model, app, x, Path(tmp) / app, plugin
                )
            }
            for kind, lib in libs.items():
                runs[f"tflm_{kind}"] = tflm_target.measure_tflm(
                    lib, model, x, Path(tmp) / app / kind, plugin
                )
            host_arena = measure_arena(model).arena_bytes
            gen = runs["generated_c"]
            approx = codegen.generate(model, app, Path(tmp) / app / "check").approx_output
            reasons = tflm_equivalence.explain_differences(
                model, x, gen.outputs, runs["tflm_cmsis_nn"].outputs, y_ref, approx
            )
            explained = all(why is not None for _, why in reasons)
            for impl in IMPLS:
                run = runs[impl]
                other = runs["tflm_cmsis_nn"] if impl == "generated_c" else gen
                rows.append(
                    {
                        "app": app,
                        "impl": impl,
                        "instructions": run.instructions,
                        "cycles_estimate": run.cycles,
                        "cycles_per_instruction": round(run.cycles / run.instructions, 3),
                        "ms_at_64mhz": round(1000 * run.cycles / CLOCK_HZ, 3),
                        "cycles_vs_generated_c": round(run.cycles / gen.cycles, 2),
                        "flash_bytes": run.flash,
                        "ram_bytes": run.ram,
                        "ram_vs_generated_c": round(run.ram / gen.ram, 2),
                        "arena_bytes": run.arena_bytes,
                        "host_arena_bytes": host_arena if impl != "generated_c" else None,
                        "outputs_equal": bool(np.array_equal(run.outputs, other.outputs)),
                        "inputs_differing": int((run.outputs != other.outputs).any(axis=1).sum()),
                        "differences_explained": explained if impl != "generated_c" else None,
                        "equal_to_litert": bool(np.array_equal(run.outputs, y_ref)),
                        "max_diff_to_litert": int(
                            np.abs(run.outputs.astype(int) - y_ref.astype(int)).max()
                        ),
                        "n_inputs": len(run.outputs),
                    }
                )
                for op in run.ops:
                    op_rows.append({"app": app, "impl": impl, **op})
    table = pd.DataFrame(rows)
    table.to_csv(out / "peers.csv", index=False)
    ops_table = pd.DataFrame(op_rows)
    ops_table.to_csv(out / "peers_ops.csv", index=False)
    _plot(table, out / "peers.png")
    by_op = (
        ops_table.groupby(["app", "op", "impl"])["cycles"].sum().unstack("impl")[list(IMPLS)]
    ).reset_index()
    by_op[list(IMPLS)] = by_op[list(IMPLS)].astype("Int64")  # whole cycles; <NA> = no such op
    text = (
        NOTE.format(
            tflm="90b983c2",
            cmsis_nn="4ab83cc3",
            inputs="; ".join(sources)
            + " (the first examples of the test split, then validation, of "
            "`tinyml_utils.apps.prepare(quick=True)`: held-out subjects/speakers/artists)",
        )
        + "\n## Per app and implementation\n\n"
        + table.to_markdown(index=False)
        + "\n\n![cycles, flash, RAM](peers.png)\n\n"
        + "## Where the cycles go: estimated cycles per op kind\n\n"
        + "From the per-op marks (`peers_ops.csv`): TFLM's interpreter overhead between "
        "kernels is counted in the op that precedes it.\n\n" + by_op.to_markdown(index=False) + "\n"
    )
    (out / "peers.md").write_text(text)
    print(table.to_string(index=False))
    print(
        f"wrote {out / 'peers.csv'}, peers_ops.csv, peers.md, peers.png "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
