"""Core: one reader per data format (arrays, HDF5, images), sources for training, inputs for
predict, splits. Plain Python: never imports TensorFlow."""
