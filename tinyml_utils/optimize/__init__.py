"""Making models smaller: size search, pruning, quantization, and board memory budgets.

* :mod:`~tinyml_utils.optimize.search`: search the CNN template (N, M, Pi, widths) with a
  loss weighing accuracy against weights, arena and MACs; Pareto fronts.
* :mod:`~tinyml_utils.optimize.pruning`: synapse (unstructured, tfmot) and neuron
  (structured: whole filters/units removed) pruning.
* :mod:`~tinyml_utils.optimize.quantization`: post-training quantization variants,
  calibration-size sweep, quantization-aware training, weights next to their int8 values.
* :mod:`~tinyml_utils.optimize.boards`: flash/RAM budgets of common boards, fit checks.

Submodules are imported on use (they pull in TensorFlow).
"""
