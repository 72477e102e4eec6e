"""Save what a notebook measured next to the executed notebook: tables, plots, results.

The notebook runner collects every ``results.json`` into ``build/notebooks/SUMMARY.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _dir(output_dir: str | Path) -> Path:
    path = Path(output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_results(output_dir: str | Path, **values: Any) -> Path:
    """Merge ``values`` into ``output_dir/results.json`` (numbers a reader compares)."""
    path = _dir(output_dir) / "results.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update({k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()})
    path.write_text(json.dumps(current, indent=2, default=str))
    return path


def save_table(df, output_dir: str | Path, name: str) -> Path:
    """Write a pandas DataFrame as ``name.csv`` and ``name.md``; returns the CSV path."""
    out = _dir(output_dir)
    csv_path = out / f"{name}.csv"
    df.to_csv(csv_path, index=False)
    (out / f"{name}.md").write_text(
        df.to_markdown(index=False) if _has_tabulate() else df.to_string(index=False)
    )
    return csv_path


def save_figure(fig, output_dir: str | Path, name: str) -> Path:
    """Write a matplotlib figure as ``name.png``."""
    path = _dir(output_dir) / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
