"""Keras model files read, walked and mapped onto cnnrun's layer kinds, without Keras."""
