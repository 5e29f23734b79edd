"""Core: run folders, the typed summary, weights metadata, curves, diagnosis, compare,
report, sweeps, and starting the engine. Plain Python: never imports TensorFlow."""
