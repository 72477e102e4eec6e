"""Everything about a .tflite file; every later stage asks this room.

* :mod:`.info` + :mod:`.reader`: the bounds-checked reader (:func:`.reader.model_info`).
* :mod:`.convert`: Keras -> .tflite (float32, float16, dynamic range, int8).
* :mod:`.interpreters`: run a model with LiteRT (TFLite) or the TFLM runtime.
* :mod:`.tflm`: does TFLM run it, and with which arena (probed in a child process).
* :mod:`.memory`: tensor lifetimes and a greedy arena plan like TFLM's.
* :mod:`.compute`: MACs per op from the shapes.
"""
