"""Open a model in Netron, the graph viewer, from a notebook.

When a person runs the cell (JupyterLab or Colab) Netron serves the model on a local port
and the notebook shows it in a frame. In a headless run (the notebook runner and CI set
``TINYML_HEADLESS=1``; ``CI=true`` counts too) nothing is served, and the cell says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tinyml_utils.core.progress import HEADLESS_ENV, headless

__all__ = ["HEADLESS_ENV", "is_headless"]


def is_headless() -> bool:
    """True in papermill/CI runs, where nobody could look at a viewer."""
    return headless()


def open_in_netron(model_path: str | Path, port: int = 8081, height: int = 600) -> str:
    """Serve ``model_path`` with Netron and display it; returns what was done, in words."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file; save the .tflite first.")
    if is_headless():
        message = (
            f"Netron skipped: headless run ({HEADLESS_ENV}=1 or CI=true). Run this cell in "
            f"Jupyter or Colab to browse {path.name}, or run `netron {os.path.relpath(path)}` in a terminal."
        )
        print(message)
        return message
    import netron

    host, actual_port = netron.start(str(path), address=("localhost", port), browse=False)
    if "google.colab" in sys.modules:
        from google.colab import output  # type: ignore[import-not-found]

        output.serve_kernel_port_as_iframe(actual_port, height=str(height))
    else:
        from IPython.display import IFrame, display

        display(IFrame(f"http://{host}:{actual_port}", width="100%", height=height))
    return f"Netron serving {path.name} at http://{host}:{actual_port}"
