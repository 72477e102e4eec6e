"""The settings of a model size search study, stored in the study so that every worker
searches alike: :class:`SearchConfig`, the objectives, and the data's fingerprint."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml_utils.core.errors import DataError
from tinyml_utils.optimize import boards
from tinyml_utils.optimize.search import SPACES, SearchSpace

#: objective -> Optuna direction. ``val_accuracy`` is the int8 file's, run on the val split.
OBJECTIVES = {
    "val_accuracy": "maximize",
    "weights_bytes": "minimize",
    "arena_bytes": "minimize",
    "macs": "minimize",
}
SAMPLERS = ("grid", "tpe", "nsga2")
PARAM_NAMES = ("N", "M", "Pi", "filters", "units")  # Optuna parameter names, in point order
SPACE_FIELDS = ("n_conv", "n_dense", "pools", "base_filters", "dense_units")
CONFIG_KEY = "tinyml_config"
DATA_KEY = "tinyml_data"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a study; stored in it so that every worker searches alike.

    Attributes:
        app: the application (``apps.APPS``); workers load its data themselves.
        space: the :class:`SearchSpace` (or the name of one of :data:`SPACES`).
        epochs: epochs per trial (a pruned trial stops earlier).
        sampler: ``"grid"``, ``"tpe"`` or ``"nsga2"``.
        objectives: keys of :data:`OBJECTIVES`; ``val_accuracy`` and at least one more.
        board: a board key (``boards.BOARDS``) whose flash/RAM are the constraints, or None.
        prune: stop hopeless trials early (:class:`DominatedPruner`).
        margin: accuracy by which a smaller finished trial must lead to prune.
        fit_infeasible: also train candidates that cannot fit the board.
        batch_size, learning_rate, num_calibration, seed: training and conversion.
    """

    app: str
    space: SearchSpace | str = "notebook"
    epochs: int = 5
    sampler: str = "tpe"
    objectives: tuple[str, ...] = tuple(OBJECTIVES)
    board: str | None = None
    prune: bool = True
    margin: float = 0.01
    fit_infeasible: bool = False
    batch_size: int = 64
    learning_rate: float = 1e-3
    num_calibration: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.space, str):
            if self.space not in SPACES:
                raise DataError(f"unknown space {self.space!r}; choose one of {', '.join(SPACES)}.")
            object.__setattr__(self, "space", SPACES[self.space])
        object.__setattr__(self, "objectives", tuple(self.objectives))
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or "val_accuracy" not in self.objectives or len(self.objectives) < 2:
            raise DataError(
                f"objectives must be val_accuracy and at least one of {list(OBJECTIVES)[1:]}, "
                f"got {list(self.objectives)}."
            )
        if self.sampler not in SAMPLERS:
            raise DataError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}.")
        if self.epochs < 1:
            raise DataError(f"epochs must be >= 1, got {self.epochs}.")
        if self.board is not None:
            object.__setattr__(self, "board", boards.get_board(self.board).key)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SearchConfig:
        values = json.loads(text)
        space = values.pop("space")
        space = SearchSpace(**{k: tuple(v) if isinstance(v, list) else v for k, v in space.items()})
        return cls(space=space, **values)


def data_fingerprint(data) -> dict[str, Any]:
    """What must be equal for two workers to search the same problem (not the data's path)."""
    return {
        "app": getattr(data, "app", ""),
        "split": getattr(data, "split", ""),
        "input_shape": [int(d) for d in data.x_train.shape[1:]],
        "num_classes": _num_classes(data),
        "examples": [len(data.x_train), len(data.x_val)],
    }


def _num_classes(data) -> int:
    n = getattr(data, "num_classes", None)
    if n is None:
        n = int(max(np.max(data.y_train), np.max(data.y_val))) + 1
    return int(n)
