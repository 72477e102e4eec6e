"""Analysis of .tflite models: running them (TFLite and TFLM), structure, memory, latency."""
