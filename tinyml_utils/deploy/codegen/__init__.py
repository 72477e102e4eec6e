"""Generate dependency-free C99 for an int8 .tflite model: weights as const arrays, one call
per operator, a static memory plan, and the portable kernels in ``deploy/c/``.

No interpreter, no flatbuffer parsing, no operator registry on the device: every parameter
that TFLite computes when it prepares a model (per-channel multipliers and shifts, padding,
activation ranges, lookup tables) is computed here, in Python, exactly as TFLite's
``Prepare`` functions do, and written into the C file as constants. The device only runs the
integer arithmetic of TFLite's int8 reference kernels (the ones TFLM uses), so the outputs
are bit-identical to TFLite's reference kernels and to TFLM (SOFTMAX and LOGISTIC use a float
/ table formulation: at most 1 off, same top-1).

Supported ops: CONV_2D (also the 1-D convolutions Keras exports as CONV_2D), DEPTHWISE_CONV_2D,
FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE / SQUEEZE / EXPAND_DIMS (no code: the
output shares the input's memory), ADD (with broadcasting), MEAN, REDUCE_MAX, RELU, RELU6,
RELU_N1_TO_1, SOFTMAX, LOGISTIC, with fused activations (RELU, RELU6, RELU_N1_TO_1).

Memory: activations live in one static arena planned like TFLM does (greedy, by lifetime, with
:func:`tinyml_utils.tflite.memory.plan_arena`); the model input is read straight from the
caller's buffer and the output written straight into the caller's buffer. A CONV_2D whose
output only feeds a MAX_POOL_2D (VALID, stride = window) is computed with the pooling on the
fly (TinyEngine style): its output never exists in full, only a band of at most
``BAND_LIMIT_BYTES`` in the DSP scratch, and convolution rows/columns no window covers are
skipped::

    from tinyml_utils.deploy.codegen import generate
    g = generate("model_int8.tflite", "carsensor", "build/carsensor_c")
    # -> carsensor_model.h / carsensor_model.c + tinyml_kernels.h / tinyml_kernels.c
    #    void carsensor_invoke(const int8_t *input, int8_t *output);

The package, in the order the generator uses it:

* :mod:`.quant`: TFLite's fixed-point math (multipliers, shifts, activation ranges, padding)
  and the DSP kernels' requantization tables;
* :mod:`.lowering`: one kernel call with constant parameters per op;
* :mod:`.plan`: the static memory plan (arena offsets by lifetime);
* :mod:`.emit`: C literals, the constant tables and the Jinja2 templates (``templates/``);
* :mod:`.generator`: :func:`generate`, which writes the files.
"""

from tinyml_utils.deploy.codegen.emit import c_float, c_int32
from tinyml_utils.deploy.codegen.generator import (
    RUNTIME_DIR,
    RUNTIME_FILES,
    GeneratedModel,
    generate,
)
from tinyml_utils.deploy.codegen.lowering import (
    ALIAS_OPS,
    APPROX_OPS,
    EXPAND_LIMIT_BYTES,
    FC_WIDE_LIMIT_BYTES,
    LD_C,
    LD_LDR,
    LD_LDRD,
    LD_NAMES,
    SUPPORTED_OPS,
)
from tinyml_utils.deploy.codegen.plan import ARENA_ALIGNMENT, BAND_LIMIT_BYTES, TensorSlot
from tinyml_utils.deploy.codegen.quant import (
    RQ_DOUBLE,
    RQ_DOUBLE64,
    RQ_DOUBLE_S,
    RQ_FAST,
    RQ_FAST32,
    RQ_GEMMLOWP,
    RQ_NAMES,
    acc_bound,
    activation_range,
    double_chans,
    fc16_padded_length,
    folded_bias,
    gemmlowp_chans,
    no_tie,
    permute_groups,
    quantize_multiplier,
    row4_interleave,
    row4_pairs,
)

__all__ = [
    "ALIAS_OPS",
    "APPROX_OPS",
    "ARENA_ALIGNMENT",
    "BAND_LIMIT_BYTES",
    "EXPAND_LIMIT_BYTES",
    "FC_WIDE_LIMIT_BYTES",
    "LD_C",
    "LD_LDR",
    "LD_LDRD",
    "LD_NAMES",
    "RQ_DOUBLE",
    "RQ_DOUBLE64",
    "RQ_DOUBLE_S",
    "RQ_FAST",
    "RQ_FAST32",
    "RQ_GEMMLOWP",
    "RQ_NAMES",
    "RUNTIME_DIR",
    "RUNTIME_FILES",
    "SUPPORTED_OPS",
    "GeneratedModel",
    "TensorSlot",
    "acc_bound",
    "activation_range",
    "c_float",
    "c_int32",
    "double_chans",
    "fc16_padded_length",
    "folded_bias",
    "gemmlowp_chans",
    "generate",
    "no_tie",
    "permute_groups",
    "quantize_multiplier",
    "row4_interleave",
    "row4_pairs",
]
