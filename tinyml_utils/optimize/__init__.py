"""Making models smaller: size search, pruning, quantization, and board memory budgets.

* :mod:`~tinyml_utils.optimize.search`: the CNN template's search space (N, M, Pi, widths)
  with its validity rules, and the ranking views (weighted loss, Pareto fronts, plots).
* :mod:`~tinyml_utils.optimize.optuna_search`: the search itself, an Optuna study
  (multi-objective: accuracy, weights, measured arena, MACs; board budgets as constraints;
  pruning; resumable in SQLite, shared by many workers through any SQLAlchemy database).
* :mod:`~tinyml_utils.optimize.search_config`: the settings a study stores (objectives, sampler,
  space, board) and the data fingerprint every worker must match.
* :mod:`~tinyml_utils.optimize.trials`: a study read back: trials table, front, history.
* :mod:`~tinyml_utils.optimize.pruning`: synapse (unstructured, tfmot) and neuron
  (structured: whole filters/units removed) pruning.
* :mod:`~tinyml_utils.optimize.quantization`: post-training quantization variants,
  calibration-size sweep, quantization-aware training, weights next to their int8 values.
* :mod:`~tinyml_utils.optimize.boards`: flash/RAM budgets of common boards, fit checks.

Submodules are imported on use (they pull in TensorFlow).
"""
