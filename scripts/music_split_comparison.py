"""Random track split vs artist-disjoint split of GTZAN: what each reports for the same model.

    PYTHONPATH=. python scripts/music_split_comparison.py [--seeds 5] [--data-dir DIR]

Trains the music_genre reference configuration (57 track features, apps.default_spec) on
the real features_30_sec.csv (../shared/data/music_genre or $TINYML_DATA_DIR) under
- "random track": the tracks of the fault-filtered split, drawn at random into parts of the
  same sizes (each seed draws another split), and
- "artist-disjoint": the fault-filtered split of Kereliuk et al. 2015 (no artist on two sides),
and writes every run and a summary to results/music_genre/split_comparison.{csv,md}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinyml_utils.analyze.split_comparison import compare_splits, summarize
from tinyml_utils.apps.reference import data_dir_for
from tinyml_utils.apps.registry import references
from tinyml_utils.model import train

OUT = Path(__file__).resolve().parents[1] / "results" / "music_genre"
SPLITS = {"random track": {"split": "track"}, "artist-disjoint": {"split": "artist"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per split (default 5)")
    parser.add_argument("--data-dir", help="GTZAN folder (default: ../shared/data/music_genre)")
    args = parser.parse_args(argv)
    ref = references()["music_genre"]
    folder = data_dir_for(ref, args.data_dir)
    train.configure_threads(1, 1)
    table = compare_splits(
        "music_genre",
        SPLITS,
        seeds=range(args.seeds),
        source="local",
        data_dir=folder,
        epochs=ref.epochs,
        batch_size=ref.batch_size,
        patience=ref.patience,
        **{k: v for k, v in ref.options.items() if k != "split"},
    )
    summary = summarize(table)
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "split_comparison.csv", index=False)
    lines = [
        "# GTZAN: random track split vs artist-disjoint split",
        "",
        "Written by `scripts/music_split_comparison.py`: the music_genre reference "
        f"configuration ({table['weights'].iloc[0]:,} weights, 57 track features of the real "
        "features_30_sec.csv, tracks 00000-00084 of each genre) trained and tested under two "
        f"splits of the same {table['train'].iloc[0] + table['val'].iloc[0] + table['test'].iloc[0]}"
        " tracks, Keras float model, test accuracy over "
        f"{args.seeds} seeds (the random split is redrawn with each seed).",
        "",
        summary.reset_index().to_markdown(index=False),
        "",
        "Splits (seed 0): "
        + "; ".join(table.groupby("split", sort=False)["split_description"].first()),
        "",
    ]
    (OUT / "split_comparison.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
