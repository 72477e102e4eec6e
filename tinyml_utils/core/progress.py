"""Progress bars that leave a truthful trace in a saved notebook.

``tqdm.auto`` draws a Jupyter widget; a notebook executed headlessly (papermill, CI) saves
only the widget's text fallback, which is the bar's *first* state ("0%| 0/15"), frozen in
the outputs forever. In a headless run (``TINYML_HEADLESS=1``, set by the notebook runner,
or ``CI=true``) :func:`tqdm` is the plain text bar instead, whose saved output ends on its
last state; everywhere else it is ``tqdm.auto``'s.
"""

from __future__ import annotations

import os

from tqdm import auto, std

HEADLESS_ENV = "TINYML_HEADLESS"


def headless() -> bool:
    """True in papermill/CI runs, where nobody watches a widget."""
    flags = (os.environ.get(HEADLESS_ENV, ""), os.environ.get("CI", ""))
    return any(f.lower() in ("1", "true", "yes") for f in flags)


def tqdm(*args, **kwargs):
    """``tqdm.auto.tqdm`` interactively, the text bar in headless runs (see the module)."""
    if headless():
        kwargs.setdefault("mininterval", 60.0)  # the saved stream: first and last state
        return std.tqdm(*args, **kwargs)
    return auto.tqdm(*args, **kwargs)
