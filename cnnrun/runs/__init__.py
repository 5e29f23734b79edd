"""Core: the run-folder format: file names, folders and locks, the typed summary, weights
metadata, gates, and the events a run reports (the Reporter and Observer protocols). Plain
Python: never imports TensorFlow."""
