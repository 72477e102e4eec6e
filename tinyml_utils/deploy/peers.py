"""The committed side-by-side of generated C and TFLM on the same Cortex-M4F, for readers.

``scripts/benchmark_peers.py`` measures and writes ``benchmarks/mcu/peers.csv`` (and
``peers_ops.csv``, per op kind); ``scripts/sketch_flash.py`` writes ``sketch_flash.csv`` (the
flash of the TFLM sketches with every op, the model's ops, or their int8-only kernels
registered). This module reads those files back, phrases what they say from the numbers
themselves, and checks the claims notebook 11 makes about them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tinyml_utils.core.errors import DataError
from tinyml_utils.core.paths import repo_root

IMPLS = ("generated_c", "tflm_cmsis_nn", "tflm_reference")
LABELS = {
    "generated_c": "generated C",
    "tflm_cmsis_nn": "TFLM + CMSIS-NN",
    "tflm_reference": "TFLM reference",
}


def peers_dir() -> Path:
    return repo_root() / "benchmarks" / "mcu"


def _load(path: Path, script: str, columns: set[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path} is missing. Fix: run {script} to measure it.")
    table = pd.read_csv(path)
    missing = columns - set(table)
    if missing:
        raise DataError(f"{path} lacks the columns {sorted(missing)}: rerun {script}.")
    return table


def load_peers(path: str | Path | None = None) -> pd.DataFrame:
    """``benchmarks/mcu/peers.csv``: one row per app x implementation."""
    path = Path(path) if path is not None else peers_dir() / "peers.csv"
    columns = {"app", "impl", "instructions", "cycles_estimate", "ram_bytes"}
    return _load(path, "scripts/benchmark_peers.py", columns)


#: sketch_flash.csv: flash of the whole sketch firmware per way of registering the ops
FLASH_COLUMNS = ("flash_all_ops", "flash_default", "flash_int8_only")


def load_sketch_flash(path: str | Path | None = None) -> pd.DataFrame:
    """``benchmarks/mcu/sketch_flash.csv``: one row per committed sketch."""
    path = Path(path) if path is not None else peers_dir() / "sketch_flash.csv"
    return _load(path, "scripts/sketch_flash.py", {"app", "outputs_equal", *FLASH_COLUMNS})


def check_sketch_flash(table: pd.DataFrame) -> None:
    """Fail loudly unless the three builds compute the same outputs and registering fewer
    kernels takes less flash: int8-only <= the model's ops < every op."""
    unequal = list(table.loc[~table["outputs_equal"].astype(bool), "app"])
    fewer = (table.flash_int8_only <= table.flash_default) & (
        table.flash_default < table.flash_all_ops
    )
    if unequal or not fewer.all():
        raise AssertionError(
            f"sketch_flash.csv: outputs differ for {unequal}; flash not ordered int8-only <= "
            f"model's ops < every op for {list(table.loc[~fewer, 'app'])}"
        )


def sketch_flash_sentence(table: pd.DataFrame, app: str) -> str:
    """What registering ops costs ``app``'s sketch, from the table (Markdown)."""
    rows = table.set_index("app")
    if app not in rows.index:
        return f"No committed sketch for {app} in sketch_flash.csv."
    r = rows.loc[app]
    return (
        f"**{app}**: registering every op TFLM has takes **{r.flash_all_ops:,} B** of flash; "
        f"exactly the model's ops **{r.flash_default:,} B**; with their int8-only kernels "
        f"**{r.flash_int8_only:,} B**, {r.flash_all_ops - r.flash_int8_only:,} B less than "
        "all ops (whole firmware, same outputs)."
    )


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """App x implementation: instructions, estimated cycles, flash, RAM, arena (32-bit)."""
    cols = [
        c
        for c in (
            "instructions",
            "cycles_estimate",
            "ms_at_64mhz",
            "flash_bytes",
            "ram_bytes",
            "arena_bytes",
            "host_arena_bytes",
            "inputs_differing",
        )
        if c in table
    ]
    out = table.set_index(["app", "impl"])[cols]
    return out.rename(index=LABELS, level="impl")


def ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Per app: TFLM+CMSIS-NN's estimated cycles and RAM over the generated C's."""
    t = table.set_index(["app", "impl"])
    rows = []
    for app in dict.fromkeys(table["app"]):
        gen, peer = t.loc[(app, "generated_c")], t.loc[(app, "tflm_cmsis_nn")]
        rows.append(
            {
                "app": app,
                "cycles: TFLM+CMSIS-NN / generated C": round(
                    peer["cycles_estimate"] / gen["cycles_estimate"], 2
                ),
                "RAM: generated C / TFLM+CMSIS-NN": round(gen["ram_bytes"] / peer["ram_bytes"], 2),
                "TFLM arena on target / on host": round(
                    peer["arena_bytes"] / peer["host_arena_bytes"], 2
                )
                if "host_arena_bytes" in t and peer["host_arena_bytes"] > 0
                else None,
            }
        )
    return pd.DataFrame(rows).set_index("app")


def summary_sentences(table: pd.DataFrame) -> str:
    """Markdown sentences whose every number comes from ``table``."""
    r = ratios(table)
    cyc = r["cycles: TFLM+CMSIS-NN / generated C"]
    ram = r["RAM: generated C / TFLM+CMSIS-NN"]
    gen = table[table["impl"] == "generated_c"].set_index("app")["instructions"]
    why = (
        ", the smallest model: there the kernels' work is small next to the per-op costs both "
        "pay (calls, requantization set-up, softmax)"
        if cyc.idxmin() == gen.idxmin()
        else ""
    )
    lines = [
        f"- Estimated cycles: TFLM with CMSIS-NN needs {cyc.min():.1f}x to {cyc.max():.1f}x "
        f"the generated C's (least ahead on {cyc.idxmin()}{why}).",
        f"- RAM: the generated C needs {ram.min():.2f}x to {ram.max():.2f}x of TFLM's "
        "(no interpreter, no per-tensor structs, convolutions pooled on the fly).",
    ]
    host = r["TFLM arena on target / on host"].dropna()
    if len(host):
        lines.append(
            f"- TFLM's arena on the 32-bit target is {host.min():.0%} to {host.max():.0%} of the "
            "64-bit host runtime's: pointers and the structs that hold them are half as large."
        )
    if "inputs_differing" in table:
        peer = table[table["impl"] == "tflm_cmsis_nn"]
        differ = peer[peer["inputs_differing"] > 0]
        if len(differ):
            apps = ", ".join(
                f"{a} ({int(n)})"
                for a, n in zip(differ["app"], differ["inputs_differing"], strict=True)
            )
            lines.append(
                f"- Outputs: identical on every input except for {apps} of the "
                f"{int(peer['n_inputs'].iloc[0])} inputs per app, where an output is one step "
                "apart: TFLM requantizes FULLY_CONNECTED in integers where the generated C "
                "follows LiteRT's reference kernels, and the generated softmax may round its "
                "last step differently."
            )
        else:
            lines.append("- Outputs: byte-identical on every input.")
    return "\n".join(lines)


def check_claims(table: pd.DataFrame, min_speedup: float = 3.0, max_ram: float = 0.7) -> None:
    """Fail loudly if the generated C stops being ahead of TFLM+CMSIS-NN: on every app at
    least ``min_speedup`` times fewer estimated cycles and at most ``max_ram`` times its RAM
    (issue 13's targets)."""
    r = ratios(table)
    slow = r[r["cycles: TFLM+CMSIS-NN / generated C"] < min_speedup]
    big = r[r["RAM: generated C / TFLM+CMSIS-NN"] > max_ram]
    if len(slow) or len(big):
        raise AssertionError(
            f"generated C no longer ahead of TFLM+CMSIS-NN: cycles < {min_speedup}x for "
            f"{list(slow.index)}, RAM > {max_ram}x for {list(big.index)}"
        )


def ops_table(path: str | Path | None = None) -> pd.DataFrame | None:
    """Estimated cycles per op kind and implementation (``peers_ops.csv``), if present."""
    path = Path(path) if path is not None else peers_dir() / "peers_ops.csv"
    if not path.is_file():
        return None
    ops = pd.read_csv(path)
    value = "cycles_estimate" if "cycles_estimate" in ops else ops.columns[-1]
    return ops.pivot_table(index=["app", "op"], columns="impl", values=value, aggfunc="sum")


def plot(table: pd.DataFrame):
    """Estimated cycles and RAM per app, the three implementations side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, column, title in (
        (axes[0], "cycles_estimate", "estimated cycles per inference (log)"),
        (axes[1], "ram_bytes", "RAM, bytes"),
    ):
        pivot = table.pivot(index="app", columns="impl", values=column)[list(IMPLS)]
        pivot.rename(columns=LABELS).plot.bar(ax=ax, rot=0, logy=column == "cycles_estimate")
        ax.set_title(title)
        ax.set_xlabel("")
    fig.tight_layout()
    return fig
