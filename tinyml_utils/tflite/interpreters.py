"""Run a .tflite model with ai_edge_litert (TFLite) or the tflite-micro runtime (TFLM).

Both runners take float inputs and handle int8 quantization the same way: an int8 input
tensor gets ``round(x / scale) + zero_point`` clipped to [-128, 127]; ``dequantize=True``
turns int8 outputs back into floats with ``(q - zero_point) * scale``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinyml_utils.core.errors import DataError, ModelFileError, UnsupportedOnMicroError
from tinyml_utils.core.quiet import native_output_captured

ModelLike = bytes | bytearray | str | os.PathLike


#: models larger than this are refused before they are read (``TINYML_MAX_MODEL_MB``)
MAX_MODEL_MB = int(os.environ.get("TINYML_MAX_MODEL_MB", "256"))


def load_model_bytes(model: ModelLike) -> bytes:
    """Bytes of a .tflite model given as bytes or a path; clear errors for bad files.

    A folder, a missing file, a file over ``TINYML_MAX_MODEL_MB`` (default 256 MB; checked
    before reading it), an empty file or one without the TFLite identifier is a
    :class:`ModelFileError` naming the path and the fix.
    """
    if isinstance(model, bytes | bytearray):
        data = bytes(model)
        where = "the model bytes"
    else:
        path = Path(model)
        if path.is_dir():
            inside = sorted(p.name for p in path.glob("*.tflite"))[:3]
            hint = f" (it holds {', '.join(inside)})" if inside else ""
            raise ModelFileError(
                f"{path} is a folder, not a .tflite file{hint}. Give the path of the model "
                "file itself."
            )
        if not path.is_file():
            raise ModelFileError(f"{path}: no such file. Give the path of a .tflite model.")
        size = path.stat().st_size
        if size > MAX_MODEL_MB << 20:
            raise ModelFileError(
                f"{path} is {size / 2**20:,.0f} MB; the workbook reads models up to "
                f"{MAX_MODEL_MB} MB (a microcontroller model is well under 1 MB), so it was not "
                "read. Is it the right file? Set TINYML_MAX_MODEL_MB to raise the limit."
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
        where = str(path)
    if len(data) == 0:
        raise ModelFileError(f"{where}: the file is empty (0 bytes); re-export the model.")
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(
            f"{where}: not a TFLite flatbuffer (no 'TFL3' identifier at byte 4). "
            "Convert the model with tinyml_utils.tflite.convert.convert() or tf.lite.TFLiteConverter."
        )
    return data


def quantize(x: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """Float -> integer tensor values with TFLite's affine quantization."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, dtype=np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.float32) - np.float32(zero_point)) * np.float32(scale)


def _prepare_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    expected = tuple(int(d) for d in detail["shape"][1:])
    x = np.asarray(x)
    if tuple(x.shape[1:]) != expected:
        raise DataError(
            f"input batch has shape {x.shape}, the model expects (N, {', '.join(map(str, expected))}). "
            "Preprocess the data as for training (see the notebook's feature step)."
        )
    if np.issubdtype(dtype, np.integer) and not np.issubdtype(x.dtype, np.integer):
        scale, zero_point = detail["quantization"]
        if scale == 0:
            raise DataError("integer model input without quantization parameters.")
        return quantize(x, dtype, scale, zero_point)
    return x.astype(dtype)


def _finish_output(y: np.ndarray, detail: dict, dequantize_output: bool) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if dequantize_output and np.issubdtype(y.dtype, np.integer) and scale != 0:
        return dequantize(y, scale, zero_point)
    return y


class TFLiteRunner:
    """A model loaded once in ai_edge_litert's interpreter, run sample by sample.

    ``kernels="optimized"`` (default) is what an app on a phone or PC gets (XNNPACK and
    optimized kernels). ``kernels="reference"`` uses TFLite's reference kernels, the
    arithmetic of TensorFlow Lite Micro for every op but one: LiteRT's reference
    FULLY_CONNECTED requantizes in float where TFLM uses integers (LiteRT issue #8567), so a
    few int8 outputs in a thousand can differ by a step (then amplified by later layers);
    the predicted class practically never does. The optimized kernels differ a little more
    (XNNPACK requantizes in float; the int8 softmax uses a lookup table).
    """

    def __init__(self, model: ModelLike, num_threads: int = 1, kernels: str = "optimized"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolvers = {"optimized": OpResolverType.AUTO, "reference": OpResolverType.BUILTIN_REF}
        if kernels not in resolvers:
            raise DataError(f"kernels must be one of {sorted(resolvers)}, got {kernels!r}.")
        self.model_bytes = load_model_bytes(model)
        try:
            # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" from C++
            with native_output_captured():
                self.interpreter = Interpreter(
                    model_content=self.model_bytes,
                    num_threads=num_threads,
                    experimental_op_resolver_type=resolvers[kernels],
                )
                self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ModelFileError(f"TFLite could not load the model: {exc}") from exc
        self.input_detail = self.interpreter.get_input_details()[0]
        self.output_detail = self.interpreter.get_output_details()[0]

    def invoke_one(self, x_raw: np.ndarray) -> np.ndarray:
        """One already-typed sample (batch of 1) in, raw output tensor out."""
        self.interpreter.set_tensor(self.input_detail["index"], x_raw)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_detail["index"]).copy()

    def predict(self, x: np.ndarray, dequantize_output: bool = True) -> np.ndarray:
        xq = _prepare_input(x, self.input_detail)
        out = np.concatenate([self.invoke_one(xq[i : i + 1]) for i in range(len(xq))])
        return _finish_output(out, self.output_detail, dequantize_output)


class TFLMRunner:
    """A model in the tflite-micro Python runtime (the real TFLM kernels)."""

    def __init__(self, model: ModelLike, arena_size: int | None = None):
        from tflite_micro import runtime

        self.model_bytes = load_model_bytes(model)
        try:
            self.interpreter = runtime.Interpreter.from_bytes(
                self.model_bytes, arena_size=arena_size
            )
        except (RuntimeError, ValueError) as exc:
            raise UnsupportedOnMicroError(f"TFLM could not load the model: {exc}") from exc
        self.input_detail = self.interpreter.get_input_details(0)
        self.output_detail = self.interpreter.get_output_details(0)

    def invoke_one(self, x_raw: np.ndarray) -> np.ndarray:
        self.interpreter.set_input(x_raw, 0)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_output(0), copy=True)

    @staticmethod
    def _as_tflite_detail(detail: dict) -> dict:
        """TFLM's details carry quantization_parameters only; add TFLite's (scale, zp)."""
        params = detail.get("quantization_parameters", {})
        scales, zero_points = params.get("scales", []), params.get("zero_points", [])
        quantization = (float(scales[0]), int(zero_points[0])) if len(scales) else (0.0, 0)
        return {**detail, "quantization": quantization}

    def predict(self, x: np.ndarray, dequantize_output: bool = True) -> np.ndarray:
        xq = _prepare_input(x, self._as_tflite_detail(self.input_detail))
        out = np.concatenate([self.invoke_one(xq[i : i + 1]) for i in range(len(xq))])
        return _finish_output(out, self._as_tflite_detail(self.output_detail), dequantize_output)


def run_tflite(
    model: ModelLike, x: np.ndarray, dequantize_output: bool = True, kernels: str = "optimized"
) -> np.ndarray:
    """Outputs of ``model`` (ai_edge_litert) for the float batch ``x``; see TFLiteRunner."""
    return TFLiteRunner(model, kernels=kernels).predict(x, dequantize_output)


def run_tflm(
    model: ModelLike, x: np.ndarray, arena_size: int | None = None, dequantize_output: bool = True
) -> np.ndarray:
    """Outputs of ``model`` in the tflite-micro runtime for the float batch ``x``."""
    return TFLMRunner(model, arena_size).predict(x, dequantize_output)
