"""Analysis of .tflite models: running them (TFLite and TFLM), structure, memory, latency.

Modules:

* :mod:`.interpreters`: run a model with ai_edge_litert (TFLite) or the TFLM runtime.
* :mod:`.tflite_model`: read a .tflite file (bounds-checked) into a :class:`ModelInfo`.
* :mod:`.tflm`: does TFLM run it, and with which arena (``measure_arena``)?
* :mod:`.memory`: tensor lifetimes and a greedy arena plan like TFLM's.
* :mod:`.compute`: MACs per op from the shapes.
* :mod:`.latency`: timings with ai_edge_litert.
* :mod:`.benchmark`: all of the above for one or more models, as tables, files and plots
  (``tinyml benchmark``, module :mod:`.cli`); :mod:`.plots` draws the figures.
* :mod:`.samples`: tiny example models for tests and notebooks.
"""
