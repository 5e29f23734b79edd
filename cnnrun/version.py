"""cnnrun's version: a leaf module, so that no module inside cnnrun imports the root package."""

__version__ = "0.1.0"
