"""The one place the workbook imports TensorFlow.

    from tinyml_utils.core.tf import tf, keras

``keras`` is ``tf.keras`` resolved to Keras 2 (tf-keras), which tensorflow-model-optimization
needs. Importing this module enforces that; see :mod:`tinyml_utils.core.keras_guard`.
"""

from __future__ import annotations

from tinyml_utils.core.keras_guard import (
    Keras3ActiveError,
    _keras_module_name,
    ensure_legacy_keras,
)

ensure_legacy_keras()

from tinyml_utils.core.quiet import native_output_captured  # noqa: E402

with native_output_captured():  # start-up chatter of the C++ runtime (printed if it fails)
    import tensorflow as tf

    tf.config.list_physical_devices()  # device probing (and its CUDA messages) happens here
tf.get_logger().setLevel("ERROR")  # "INFO:tensorflow:Assets written to ..." on every convert

if not _keras_module_name(tf).startswith("tf_keras"):
    raise Keras3ActiveError(
        "tf.keras resolved to Keras 3 although TF_USE_LEGACY_KERAS=1 is set: the tf-keras "
        "package is probably missing. Fix: pip install tf-keras==2.21.0 and restart the kernel."
    )

keras = tf.keras

__all__ = ["keras", "tf"]
