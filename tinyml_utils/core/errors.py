"""The package's own error types. Each message names the problem and the fix."""

from __future__ import annotations


class TinyMLError(Exception):
    """Base class: the `tinyml` command prints these as one line, without a traceback."""


class DataError(TinyMLError, ValueError):
    """Data of the wrong shape, type or content."""


class DatasetNotFoundError(TinyMLError, FileNotFoundError):
    """A dataset is not where it was looked for; the message says how to get it."""


class ModelFileError(TinyMLError, ValueError):
    """A file that is not a usable .tflite model (missing, empty, truncated, not TFLite)."""


class UnsupportedOnMicroError(TinyMLError, RuntimeError):
    """A model that TensorFlow Lite Micro cannot run (select ops, hybrid ops, missing op)."""
