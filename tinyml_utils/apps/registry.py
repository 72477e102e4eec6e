"""The app modules of this package, and :func:`get_app`.

A new app: its module (defining ``APP``, an :class:`tinyml_utils.apps.base.App`) and its
name in :data:`MODULES`.
"""

from __future__ import annotations

import importlib
from functools import cache

from tinyml_utils.apps.base import App, Reference
from tinyml_utils.core.errors import DataError

#: The app modules, in the order the notebooks teach them.
MODULES: tuple[str, ...] = ("motionsense", "carsensor", "keyword_spotting", "music_genre")


@cache
def get_app(name: str) -> App:
    """The :class:`App` called ``name``; a clear error for an unknown name."""
    if name not in MODULES:
        raise DataError(f"unknown app {name!r}; choose one of {MODULES}.")
    return importlib.import_module(f"tinyml_utils.apps.{name}").APP


def check_app(app: str) -> str:
    """``app`` if it names an app, else a :class:`DataError` listing the apps."""
    get_app(app)
    return app


def references() -> dict[str, Reference]:
    """Every reference model of every app, by name (``tinyml train-reference --app NAME``)."""
    return {r.name: r for name in MODULES for r in get_app(name).references}
