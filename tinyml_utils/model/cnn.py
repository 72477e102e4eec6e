"""The CNN template of the workbook, built from a small spec.

    Input -> (Conv -> MaxPool x Pi) x N -> Flatten -> (Dense -> regulariser) x M -> Output

``N = len(conv_filters)``, ``M = len(dense_units)``, ``Pi = pools[i]`` (max-pool layers after
conv block i). 3-D inputs ``(height, width, channels)`` use Conv2D/MaxPool2D. Signals
``(steps, channels)`` are reshaped once to ``(steps, 1, channels)`` and use Conv2D with
``(k, 1)`` kernels (``one_d_layout="conv2d"``, the default): TFLite has no 1-D convolution,
and Keras' Conv1D/MaxPool1D become EXPAND_DIMS + CONV_2D + RESHAPE in every block. The same
network as Conv2D (k, 1) converts to fewer ops, a smaller file and a smaller TFLM arena, with
identical outputs (MotionSense: 11 ops instead of 16, 10,208 instead of 12,104 bytes, arena
6,480 instead of 8,240 bytes; results/optimization/08_unsupported_ops/channels_first_cost.md).
``one_d_layout="conv1d"`` keeps Keras' Conv1D layers, for comparison. The spec is plain data (JSON), so a
model folder can record exactly what was built, and the size search can enumerate specs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tinyml_utils.core.errors import DataError

REGULARISERS = ("dropout", "batchnorm", "none")
ONE_D_LAYOUTS = ("conv2d", "conv1d")


@dataclass(frozen=True)
class CNNSpec:
    """A point of the CNN template.

    Attributes:
        input_shape: (steps, channels) for 1-D signals or (height, width, channels).
        num_classes: outputs of the final softmax layer.
        conv_filters: filters of each conv block (N = its length; may be empty).
        pools: max-pool layers after each conv block (Pi); an int applies to every block.
        dense_units: units of each hidden dense layer (M = its length; may be empty).
        kernel_size: conv kernel size (square for 2-D).
        pool_size: max-pool window and stride.
        regulariser: what follows each hidden dense layer: "dropout", "batchnorm", "none".
        dropout_rate: used when regulariser == "dropout".
        activation: hidden activation ("relu" maps to fused RELU in TFLite).
        one_d_layout: for (steps, channels) inputs: "conv2d" (Conv2D (k, 1), default) or
            "conv1d" (Keras Conv1D; more ops in TFLite).
    """

    input_shape: tuple[int, ...]
    num_classes: int
    conv_filters: tuple[int, ...] = (8, 16)
    pools: int | tuple[int, ...] = 1
    dense_units: tuple[int, ...] = (16,)
    kernel_size: int = 3
    pool_size: int = 2
    regulariser: str = "dropout"
    dropout_rate: float = 0.2
    activation: str = "relu"
    one_d_layout: str = "conv2d"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "conv_filters", tuple(int(f) for f in self.conv_filters))
        object.__setattr__(self, "dense_units", tuple(int(u) for u in self.dense_units))
        if not isinstance(self.pools, int):
            object.__setattr__(self, "pools", tuple(int(p) for p in self.pools))
        if len(self.input_shape) not in (2, 3):
            raise DataError(
                f"input_shape {self.input_shape} must be (steps, channels) or "
                "(height, width, channels); add a channel axis of 1 if needed."
            )
        if self.num_classes < 2:
            raise DataError(f"num_classes must be >= 2, got {self.num_classes}.")
        if self.regulariser not in REGULARISERS:
            raise DataError(f"regulariser {self.regulariser!r} is not one of {REGULARISERS}.")
        if self.one_d_layout not in ONE_D_LAYOUTS:
            raise DataError(f"one_d_layout {self.one_d_layout!r} is not one of {ONE_D_LAYOUTS}.")
        if not isinstance(self.pools, int) and len(self.pools) != len(self.conv_filters):
            raise DataError(
                f"pools {self.pools} needs one entry per conv block ({len(self.conv_filters)})."
            )

    @property
    def n_conv(self) -> int:
        return len(self.conv_filters)

    @property
    def n_dense(self) -> int:
        return len(self.dense_units)

    def pools_per_block(self) -> tuple[int, ...]:
        if isinstance(self.pools, int):
            return (self.pools,) * self.n_conv
        return tuple(self.pools)

    def name(self) -> str:
        conv = "-".join(
            f"c{f}p{p}" for f, p in zip(self.conv_filters, self.pools_per_block(), strict=True)
        )
        dense = "-".join(f"d{u}" for u in self.dense_units)
        return "_".join(part for part in ("cnn", conv, dense) if part)

    def output_steps(self) -> tuple[int, ...]:
        """Spatial size after all pooling; raises DataError if it would drop below 1."""
        dims = list(self.input_shape[:-1])
        for block, n_pools in enumerate(self.pools_per_block()):
            for _ in range(n_pools):
                dims = [d // self.pool_size for d in dims]
                if min(dims) < 1:
                    raise DataError(
                        f"{self.name()}: after conv block {block + 1} the pooled size drops "
                        f"below 1 (input {self.input_shape}); use fewer pools or blocks."
                    )
        return tuple(dims)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNSpec:
        data = dict(data)
        for key in ("input_shape", "conv_filters", "dense_units"):
            data[key] = tuple(data[key])
        if isinstance(data.get("pools"), list):
            data["pools"] = tuple(data["pools"])
        # Specs saved before one_d_layout existed were built with Keras Conv1D.
        data.setdefault("one_d_layout", "conv1d")
        return cls(**data)


def build_cnn(spec: CNNSpec, seed: int | None = 0):
    """Build (not compile) the Keras model of ``spec``. Raises DataError on invalid specs."""
    from tinyml_utils.core.tf import keras, tf

    spec.output_steps()  # validate pooling before building anything
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=spec.input_shape, name="input")
    x = inputs
    if len(spec.input_shape) == 3:
        conv, pool = keras.layers.Conv2D, keras.layers.MaxPooling2D
        kernel, window = spec.kernel_size, spec.pool_size
    elif spec.one_d_layout == "conv2d" and spec.n_conv:
        steps, channels = spec.input_shape
        x = keras.layers.Reshape((steps, 1, channels), name="as_image")(x)
        conv, pool = keras.layers.Conv2D, keras.layers.MaxPooling2D
        kernel, window = (spec.kernel_size, 1), (spec.pool_size, 1)
    else:
        conv, pool = keras.layers.Conv1D, keras.layers.MaxPooling1D
        kernel, window = spec.kernel_size, spec.pool_size
    blocks = zip(spec.conv_filters, spec.pools_per_block(), strict=True)
    for i, (filters, n_pools) in enumerate(blocks):
        x = conv(filters, kernel, padding="same", activation=spec.activation, name=f"conv{i + 1}")(
            x
        )
        for j in range(n_pools):
            x = pool(window, name=f"pool{i + 1}_{j + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(spec.dense_units):
        x = keras.layers.Dense(units, activation=spec.activation, name=f"dense{i + 1}")(x)
        if spec.regulariser == "dropout":
            x = keras.layers.Dropout(spec.dropout_rate, name=f"dropout{i + 1}")(x)
        elif spec.regulariser == "batchnorm":
            x = keras.layers.BatchNormalization(name=f"batchnorm{i + 1}")(x)
    outputs = keras.layers.Dense(spec.num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=spec.name())


def count_weights(model) -> int:
    """Number of trainable + non-trainable weights (parameters) of a Keras model."""
    return int(sum(int(w.shape.num_elements()) for w in model.weights))


def copy_weights(source, target) -> None:
    """Copy ``source``'s weights into ``target`` layer by layer (same layer names), reshaping
    kernels between layouts: Conv2D (k, 1, in, out) <-> Conv1D (k, in, out)."""
    for layer in target.layers:
        if layer.weights:
            kernel, bias = source.get_layer(layer.name).get_weights()
            layer.set_weights([kernel.reshape(layer.get_weights()[0].shape), bias])


def conv2d_twin(spec: CNNSpec, model, channels_first: bool):
    """The template model ``model`` (built from ``spec``, a (steps, channels) input) rebuilt
    with plain Conv2D layers in ``channels_first`` or ``channels_last`` layout, same weights.

    Its input is (channels, steps, 1) or (steps, 1, channels). Notebook 08 converts both to see
    what the layout costs on a microcontroller (TRANSPOSE ops, bytes copied, arena).
    """
    from tinyml_utils.core.tf import keras

    fmt = "channels_first" if channels_first else "channels_last"
    steps, chans = spec.input_shape
    inp = keras.Input((chans, steps, 1) if channels_first else (steps, 1, chans))
    x = inp
    for i, (filters, pools) in enumerate(
        zip(spec.conv_filters, spec.pools_per_block(), strict=True)
    ):
        x = keras.layers.Conv2D(
            filters,
            (spec.kernel_size, 1),
            padding="same",
            activation="relu",
            data_format=fmt,
            name=f"conv{i + 1}",
        )(x)
        for _ in range(pools):
            x = keras.layers.MaxPooling2D((spec.pool_size, 1), data_format=fmt)(x)
    x = keras.layers.Flatten(data_format=fmt)(x)  # same feature order in both layouts
    for i, units in enumerate(spec.dense_units):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
    out = keras.layers.Dense(spec.num_classes, activation="softmax", name="output")(x)
    twin = keras.Model(inp, out, name=f"conv2d_{fmt}")
    copy_weights(model, twin)
    return twin
