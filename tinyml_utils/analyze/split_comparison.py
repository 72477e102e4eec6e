"""What a split does to the reported accuracy: the same model trained and tested under
several splits of the same data, over a few seeds.

    from tinyml_utils.analyze.split_comparison import compare_splits
    table = compare_splits("music_genre", {"random track": {"split": "track"},
                                           "artist-disjoint": {"split": "artist"}})

Each row is one (split, seed): the app's default model (``apps.default_spec``) trained with
early stopping on the split's validation part, then measured on its test part. For a
split drawn at random (``split="track"``) the seed draws the split too, so the spread
covers both the split and the weights. ``summarize`` gives mean, spread and range per split.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from tinyml_utils import apps
from tinyml_utils.core.paths import portable_source
from tinyml_utils.core.progress import tqdm
from tinyml_utils.model import train
from tinyml_utils.model.cnn import build_cnn, count_weights


def compare_splits(
    app: str,
    splits: dict[str, dict[str, Any]],
    seeds=(0, 1, 2),
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    epochs: int = 200,
    batch_size: int = 32,
    patience: int = 25,
    progress: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """One row per (split, seed): examples per part, weights, test accuracy and balanced
    accuracy of the Keras model. ``splits`` maps a label to the app options that make the
    split; ``options`` apply to every split."""
    rows = []
    runs = [(label, opts, seed) for label, opts in splits.items() for seed in seeds]
    for label, opts, seed in tqdm(runs, desc="splits x seeds", disable=not progress):
        data = apps.prepare(app, source=source, data_dir=data_dir, seed=seed, **options, **opts)
        model = build_cnn(apps.default_spec(app, data), seed=seed)
        history = train.train(
            model, data, epochs=epochs, batch_size=batch_size, seed=seed, verbose=0,
            patience=patience,
        )  # fmt: skip
        result = train.evaluate_keras(model, data.x_test, data.y_test, data.class_names)
        rows.append(
            {
                "split": label,
                "seed": seed,
                "data_source": portable_source(data.source),
                "train": len(data.y_train),
                "val": len(data.y_val),
                "test": len(data.y_test),
                "weights": count_weights(model),
                "epochs_run": len(history.history["loss"]),
                "accuracy": round(result.accuracy, 4),
                "balanced_accuracy": round(result.balanced_accuracy, 4),
                "split_description": data.split,
            }
        )
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per split: runs, mean and standard deviation, lowest and highest test accuracy."""
    grouped = table.groupby("split", sort=False)["accuracy"]
    return pd.DataFrame(
        {
            "runs": grouped.size(),
            "mean_accuracy": grouped.mean().round(4),
            "std": grouped.std(ddof=0).round(4),
            "min": grouped.min(),
            "max": grouped.max(),
            "test_examples": table.groupby("split", sort=False)["test"].first(),
        }
    )
