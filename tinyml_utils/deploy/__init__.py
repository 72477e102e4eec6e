"""From a .tflite model to code on a microcontroller.

* :mod:`~tinyml_utils.deploy.c_array`: the model file as a C array (``xxd -i``, done right).
* :mod:`~tinyml_utils.deploy.op_resolver`: the ``MicroMutableOpResolver`` a TFLM sketch needs.
* :mod:`~tinyml_utils.deploy.sketch`: TFLM Arduino sketches per app.
* :mod:`~tinyml_utils.deploy.codegen`: dependency-free C99 inference generated from the model.
* :mod:`~tinyml_utils.deploy.reference`: the outputs the C code must reproduce.
* :mod:`~tinyml_utils.deploy.toolchains`: build for the host, a Cortex-M4F and an AVR;
  :mod:`~tinyml_utils.deploy.emulators`: run them (QEMU, simavr).
"""
