"""Core: the experiment config: schema, layer kinds, loading with line numbers, --set,
shapes and placement lint. Plain Python: never imports TensorFlow."""
