"""Make Keras 2 (tf-keras) the Keras that ``tf.keras`` resolves to.

TensorFlow >= 2.16 resolves ``tf.keras`` lazily, on first access, reading the
``TF_USE_LEGACY_KERAS`` environment variable at that moment. So the variable has to hold
before anything touches ``tf.keras``: this module sets it on import of the package and,
if TensorFlow already resolved ``tf.keras`` to Keras 3, stops with an error naming the fix.
"""

from __future__ import annotations

import os
import sys
import warnings

LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"

FIX = (
    "Fix: restart the kernel (Runtime > Restart session in Colab) and run "
    "`import tinyml_utils` before `import tensorflow`, or set the environment variable "
    "TF_USE_LEGACY_KERAS=1 before starting Python. Make sure `tf-keras` is installed "
    "(pip install tf-keras==2.21.0)."
)


class Keras3ActiveError(RuntimeError):
    """TensorFlow was imported with Keras 3 as ``tf.keras``; tfmot needs Keras 2."""


def _keras_module_name(tf_module: object) -> str:
    keras = tf_module.keras  # type: ignore[attr-defined]
    return getattr(keras, "__name__", "") or ""


def ensure_legacy_keras() -> None:
    """Set ``TF_USE_LEGACY_KERAS=1`` and fail loudly if Keras 3 is already active.

    Safe to call many times. Raises :class:`Keras3ActiveError` when TensorFlow was imported
    before this package and ``tf.keras`` already resolved to Keras 3.
    """
    previous = os.environ.get(LEGACY_KERAS_ENV)
    if previous not in (None, "1", "true", "True"):
        warnings.warn(
            f"{LEGACY_KERAS_ENV}={previous!r} was set; the workbook needs Keras 2 for "
            "tensorflow-model-optimization, so it is set to '1'.",
            stacklevel=2,
        )
    os.environ[LEGACY_KERAS_ENV] = "1"
    # Quieter TensorFlow logs in notebooks; a user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    tf = sys.modules.get("tensorflow")
    if tf is None or not hasattr(tf, "keras"):
        return
    name = _keras_module_name(tf)
    if name.startswith("tf_keras"):
        return
    raise Keras3ActiveError(
        f"TensorFlow was imported before tinyml_utils and tf.keras is Keras 3 ({name!r}). "
        "The workbook uses tensorflow-model-optimization, which needs Keras 2. " + FIX
    )
