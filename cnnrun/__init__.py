"""cnnrun: a command-line experiment runner for convolutional networks on Keras 3."""

from cnnrun.version import __version__
