"""Microcontroller boards as memory budgets: does a model fit?

A TFLM model needs two kinds of memory on the board:

* **flash** (read-only) holds the ``.tflite`` flatbuffer (weights + graph), next to the
  program itself (TFLM runtime, kernels, your sketch);
* **RAM** holds the *tensor arena* (activations, scratch buffers, TFLM's bookkeeping),
  next to the stack, the heap and the sketch's globals.

:func:`check_fit` compares a model's ``.tflite`` bytes with the flash budget and its
measured arena (``tinyml_utils.tflite.tflm.measure_arena``) with the RAM budget, and says
which one does not fit. ``flash_reserve`` / ``ram_reserve`` subtract what the rest of the
firmware uses; they default to 0 because that depends on your sketch and compiler. As an
order of magnitude, a TFLM build with a handful of kernels takes some tens of KB of flash
on a Cortex-M; measure yours from the linker map (``arm-none-eabi-size``).

    from tinyml_utils.optimize.boards import BOARDS, check_fit
    check_fit("nano33ble", model_bytes=12_000, arena_bytes=8_000)   # FitCheck(fits=True...)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyml_utils.core.errors import DataError

KB = 1024


@dataclass(frozen=True)
class Board:
    """A board's memory budget (bytes) and what it is.

    Attributes:
        key: short name used in code and tables (``"nano33ble"``).
        name: the board's commercial name.
        mcu: processor and clock.
        flash_bytes: program flash.
        ram_bytes: SRAM.
        note: what matters for TinyML on this board.
    """

    key: str
    name: str
    mcu: str
    flash_bytes: int
    ram_bytes: int
    note: str = ""

    @property
    def flash_kb(self) -> float:
        return self.flash_bytes / KB

    @property
    def ram_kb(self) -> float:
        return self.ram_bytes / KB


BOARDS: dict[str, Board] = {
    b.key: b
    for b in (
        Board(
            "nano33ble",
            "Arduino Nano 33 BLE Sense",
            "nRF52840, Cortex-M4F @ 64 MHz",
            1024 * KB,
            256 * KB,
            "The reference TinyML board (TFLM's Arduino examples target it).",
        ),
        Board(
            "uno",
            "Arduino Uno (Rev3)",
            "ATmega328P, 8-bit AVR @ 16 MHz",
            32 * KB,
            2 * KB,
            "8-bit AVR: TFLM is not ported to it; only tiny hand-written models fit.",
        ),
        Board(
            "mega2560",
            "Arduino Mega 2560",
            "ATmega2560, 8-bit AVR @ 16 MHz",
            256 * KB,
            8 * KB,
            "More flash than the Uno but still 8 KB of RAM for the arena and everything else.",
        ),
        Board(
            "esp32",
            "ESP32-DevKitC (ESP32-WROOM-32)",
            "ESP32, dual Xtensa LX6 @ 240 MHz",
            4096 * KB,
            520 * KB,
            "520 KB SRAM in total, of which roughly 300 KB is usable by the application.",
        ),
        Board(
            "pico",
            "Raspberry Pi Pico",
            "RP2040, dual Cortex-M0+ @ 133 MHz",
            2048 * KB,
            264 * KB,
            "No FPU: int8 models are the practical choice.",
        ),
    )
}


def get_board(board: str | Board) -> Board:
    """A :class:`Board` from its key (``"uno"``) or the board itself."""
    if isinstance(board, Board):
        return board
    key = str(board).lower().replace(" ", "").replace("_", "").replace("-", "")
    if key not in BOARDS:
        raise DataError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}.")
    return BOARDS[key]


def boards_table():
    """The board profiles as a pandas table (flash and RAM in KB)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "board": b.key,
                "name": b.name,
                "mcu": b.mcu,
                "flash_KB": round(b.flash_kb),
                "RAM_KB": round(b.ram_kb),
                "note": b.note,
            }
            for b in BOARDS.values()
        ]
    )


@dataclass(frozen=True)
class FitCheck:
    """Result of :func:`check_fit`: ``fits`` and, if not, the reasons (one per memory)."""

    board: str
    fits: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    flash_used: float = 0.0  # fraction of the flash budget the model takes
    ram_used: float | None = None  # fraction of the RAM budget the arena takes

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "fits"


def check_fit(
    board: str | Board,
    model_bytes: int,
    arena_bytes: int | None,
    flash_reserve: int = 0,
    ram_reserve: int = 0,
) -> FitCheck:
    """Does a model of ``model_bytes`` (.tflite size) with ``arena_bytes`` fit on ``board``?

    ``arena_bytes=None`` means TFLM could not run the model at all (no arena was
    measured): that is reported as not fitting. Reserves are subtracted from the budgets.
    """
    b = get_board(board)
    flash_budget = b.flash_bytes - flash_reserve
    ram_budget = b.ram_bytes - ram_reserve
    reasons = []
    if model_bytes > flash_budget:
        reasons.append(f"model {model_bytes / KB:.1f} KB > flash budget {flash_budget / KB:.1f} KB")
    if arena_bytes is None:
        reasons.append("no measured arena (TFLM does not run the model)")
    elif arena_bytes > ram_budget:
        reasons.append(f"arena {arena_bytes / KB:.1f} KB > RAM budget {ram_budget / KB:.1f} KB")
    return FitCheck(
        b.key,
        not reasons,
        tuple(reasons),
        model_bytes / flash_budget if flash_budget > 0 else float("inf"),
        (arena_bytes / ram_budget if ram_budget > 0 else float("inf"))
        if arena_bytes is not None
        else None,
    )


def fit_table(
    df,
    boards: list[str] | tuple[str, ...] = tuple(BOARDS),
    model_col: str = "tflite_bytes",
    arena_col: str = "arena_bytes",
    flash_reserve: int = 0,
    ram_reserve: int = 0,
):
    """Add ``fits_<board>`` (bool) and ``why_not_<board>`` (text) columns to a candidates table."""
    import pandas as pd

    out = df.copy()
    for key in boards:
        checks = [
            check_fit(
                key,
                int(row[model_col]),
                None if pd.isna(row[arena_col]) else int(row[arena_col]),
                flash_reserve,
                ram_reserve,
            )
            for _, row in out.iterrows()
        ]
        out[f"fits_{key}"] = [c.fits for c in checks]
        out[f"why_not_{key}"] = ["" if c.fits else c.reason for c in checks]
    return out


def fit_summary(fits, score_col: str = "val_accuracy"):
    """One row per board from a :func:`fit_table` (rows in ranking order, best first).

    Columns: board, flash_KB, RAM_KB, candidates_that_fit ("k / n"), the best fitting
    candidate, its ``score_col`` and the first rejection's reason.
    """
    import pandas as pd

    rows = []
    for key, board in BOARDS.items():
        if f"fits_{key}" not in fits:
            continue
        ok = fits[fits[f"fits_{key}"]]
        reasons = fits.loc[~fits[f"fits_{key}"], f"why_not_{key}"]
        rows.append(
            {
                "board": key,
                "flash_KB": round(board.flash_kb),
                "RAM_KB": round(board.ram_kb),
                "candidates_that_fit": f"{len(ok)} / {len(fits)}",
                "best_fitting (loss)": ok.iloc[0]["candidate"] if len(ok) else "none",
                f"its {score_col}": ok.iloc[0][score_col] if len(ok) else None,
                "example rejection": reasons.iloc[0] if len(reasons) else "",
            }
        )
    return pd.DataFrame(rows)


def most_accurate_fitting(
    df,
    board: str | Board,
    score_col: str = "val_accuracy",
    size_col: str = "weights_bytes",
    flash_reserve: int = 0,
    ram_reserve: int = 0,
):
    """The row of ``df`` with the best ``score_col`` among the candidates that fit
    ``board`` (ties: the smaller ``size_col``), or None when none fits."""
    key = get_board(board).key
    fits = fit_table(df, boards=(key,), flash_reserve=flash_reserve, ram_reserve=ram_reserve)
    ok = fits[fits[f"fits_{key}"]]
    if ok.empty:
        return None
    ranked = ok.sort_values([score_col, size_col], ascending=[False, True], kind="stable")
    return df.loc[ranked.index[0]]
