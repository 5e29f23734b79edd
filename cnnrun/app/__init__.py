"""The use cases: one module per command, and the only layer that starts the engine."""
