"""Prose that cannot contradict the outputs.

Two rules keep a notebook's text true on every run (real data, synthetic data, quick mode):

* a number that depends on the run is *rendered* from the run: :func:`say` displays
  Markdown built from the results (an f-string, or a sentence chosen by a measured
  comparison), never typed into a markdown cell;
* a claim the story rests on is *asserted*: :func:`claim` stops the notebook with the
  measured values when it does not hold.

:func:`stale_figures` finds the first rule's violations in an executed notebook: figures
typed into markdown cells that equal a value the run wrote to ``results.json`` (a hand
copy of a result, which goes stale on the next run). ``tests/notebook/test_prose.py``
runs it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml_utils.core.errors import TinyMLError


class ClaimFailed(TinyMLError, AssertionError):
    """A claim the notebook's text rests on does not hold for this run."""


def say(text: str) -> None:
    """Display ``text`` as Markdown (plain print outside IPython)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython is installed with the notebooks
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def claim(condition: bool, statement: str, **measured: Any) -> None:
    """Stop the notebook if ``statement`` (what the text says) is false for this run."""
    if not condition:
        values = ", ".join(f"{k}={v!r}" for k, v in measured.items())
        raise ClaimFailed(
            f"The notebook's text says: {statement!r}, but this run measured {values}. "
            "Fix the text (render it from the results) or the code that measures it."
        )


# A figure as people type it: 10,208 / 3.5 / 91.0 % / 17 KB.
_FIGURE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(%|KB|kB|B\b|bytes?\b)?")


@dataclass(frozen=True)
class StaleFigure:
    """A figure in markdown cell ``cell`` that equals the run's result ``key``."""

    cell: int
    figure: str
    key: str
    value: Any

    def __str__(self) -> str:
        return (
            f"markdown cell {self.cell} types {self.figure!r}, which is the run's result "
            f"{self.key}={self.value!r}: render it from the results instead"
        )


def _numbers(results: Any, prefix: str = "") -> list[tuple[str, float]]:
    if isinstance(results, bool):
        return []
    if isinstance(results, int | float):
        return [(prefix, float(results))] if math.isfinite(results) else []
    if isinstance(results, dict):
        return [n for k, v in results.items() for n in _numbers(v, f"{prefix}.{k}".lstrip("."))]
    if isinstance(results, list | tuple):
        return [n for i, v in enumerate(results) for n in _numbers(v, f"{prefix}[{i}]")]
    return []


def _matches(text: str, unit: str | None, value: float) -> bool:
    figure = float(text.replace(",", ""))
    decimals = len(text.split(".")[1]) if "." in text else 0
    candidates = [value]
    if unit == "%" or (0 < abs(value) <= 1 and decimals):
        candidates.append(value * 100)
    if unit in ("KB", "kB"):
        candidates += [value / 1024, value / 1000]
    return any(round(c, decimals) == figure for c in candidates)


def stale_figures(notebook: str | Path | dict, results: dict) -> list[StaleFigure]:
    """Figures typed in markdown cells of ``notebook`` that equal a number in ``results``.

    Only figures that can identify a result are compared: at least two significant digits
    (10 and up, or a decimal like 0.93), so "3 classes" or "step 1" never match by chance.
    """
    nb = notebook if isinstance(notebook, dict) else json.loads(Path(notebook).read_text())
    numbers = [(k, v) for k, v in _numbers(results) if abs(v) >= 10 or (v % 1 and abs(v) > 0.01)]
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        source = re.sub(r"`[^`]*`", "", source)  # code spans name things, they report nothing
        for match in _FIGURE.finditer(source):
            text, unit = match.group(1), match.group(2)
            if float(text.replace(",", "")) < 10 and "." not in text:
                continue
            for key, value in numbers:
                if _matches(text, unit, value):
                    found.append(StaleFigure(index, match.group(0).strip(), key, value))
                    break
    return found
