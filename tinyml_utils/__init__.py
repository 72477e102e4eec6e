"""TinyML Workbook helper package.

Every notebook starts with ``import tinyml_utils`` (or ``from tinyml_utils import ...``).
Importing the package makes ``TF_USE_LEGACY_KERAS=1`` hold before TensorFlow is imported,
because tensorflow-model-optimization only works with Keras 2 (the ``tf-keras`` package).
TensorFlow itself is imported lazily, through :mod:`tinyml_utils.core.tf`.
"""

from __future__ import annotations

from tinyml_utils.core.keras_guard import Keras3ActiveError, ensure_legacy_keras

__version__ = "0.1.0"
__all__ = ["Keras3ActiveError", "__version__", "ensure_legacy_keras"]

ensure_legacy_keras()
