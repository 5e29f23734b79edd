"""cnnrun: a command-line experiment runner for convolutional networks on Keras 3."""

__version__ = "0.1.0"
