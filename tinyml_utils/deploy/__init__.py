"""From a .tflite model to code on a microcontroller.

* :mod:`~tinyml_utils.deploy.c_array`: the model file as a C array (``xxd -i``, done right).
* :mod:`~tinyml_utils.deploy.op_resolver`: the ``MicroMutableOpResolver`` a TFLM sketch needs.
* :mod:`~tinyml_utils.deploy.sketch`: TFLM Arduino sketches per app.
* :mod:`~tinyml_utils.deploy.codegen` (a package: quant, lowering, plan, emit, generator):
  dependency-free C99 inference generated from the model (portable kernels in
  ``c/tinyml_kernels.c``; Cortex-M4 DSP kernels in ``c/tinyml_kernels_dsp.h``);
  :mod:`~tinyml_utils.deploy.mcu_bench`: its instruction count on an emulated Cortex-M4F.
* :mod:`~tinyml_utils.deploy.identifiers`: C identifiers from model names (every generator).
* :mod:`~tinyml_utils.deploy.frontend`: the audio front end in C (``firmware/audio``) with
  constants generated from the model's preprocessing.json.
* :mod:`~tinyml_utils.deploy.reference`: the outputs the C code must reproduce.
* :mod:`~tinyml_utils.deploy.toolchains`: build for the host, a Cortex-M4F and an AVR;
  :mod:`~tinyml_utils.deploy.emulators`: run them (QEMU, simavr).
"""
