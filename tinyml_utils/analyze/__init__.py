"""Analysis of .tflite models and trained apps: what a model costs and how well it does.

* :mod:`.benchmark`: structure, arena (planned and measured), MACs, latency and accuracy for
  one or more models (``tinyml benchmark``); :mod:`.results` holds the result objects,
  :mod:`.render` writes them (Markdown, HTML, XLSX, CSV, PNG), :mod:`.plots` draws figures.
* :mod:`.latency`: timings with ai_edge_litert.
* :mod:`.diagnose`: ops a microcontroller cannot run, and the TFLM op resolver a model needs.
* :mod:`.evaluate`: accuracy of a .tflite model on a data folder in the dataset's layout.
* :mod:`.samples`: tiny example models for tests and notebooks.

Reading, converting and running a .tflite file is :mod:`tinyml_utils.tflite`'s job.
"""
