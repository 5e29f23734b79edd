"""A new run's backbones filled with the weights their configs name: Keras's ImageNet
weights (from its cache, else downloaded with a timeout), a backbone's own weights file, or
the backbone of another cnnrun run's weights file."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import keras

from cnnrun.config.layers.backbones import Application
from cnnrun.config.schema import Config
from cnnrun.engine.backbones import backbones, constructor, set_trainable
from cnnrun.errors import Problem, UserError

# Keras downloads with urlretrieve, which has no timeout: a network that drops packets would
# hang a run's start for ever.
DOWNLOAD_TIMEOUT_S = 8


def load_pretrained(model: keras.Model, config: Config) -> None:
    """Fill each backbone with the weights its config names (`imagenet` or a file).

    Raises:
        UserError: ImageNet weights neither in Keras's cache nor downloadable (within
            `DOWNLOAD_TIMEOUT_S`), or a weights file that does not fit the backbone.
    """
    for loc, name, a in backbones(config):
        if a.weights == "none":
            continue
        target = model.get_layer(name)
        if a.weights == "imagenet":
            target.set_weights(_imagenet(a, tuple(target.input_shape[1:]), loc).get_weights())
        else:
            _from_file(target, a, Path(a.weights), loc)
        set_trainable(target, a.trainable, a.batchnorm)


def _imagenet(a: Application, shape: tuple[int, ...], loc: tuple) -> keras.Model:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    # Keras prints its download progress on stdout, where --json keeps one document
    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        with warnings.catch_warnings():  # "weights for 224x224 will be loaded": as meant
            warnings.simplefilter("ignore", UserWarning)
            return constructor(a.name)(include_top=False, weights="imagenet", input_shape=shape)
    except Exception as e:
        raise UserError(
            Problem(
                f"{a.name}'s ImageNet weights are not in Keras's cache and could not be "
                f"downloaded: {_reason(e)}",
                (*loc, "weights"),
                hint=f"connect to the network once, or put {_file_of(e)} in {_models_dir()}/",
            )
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
        if interactive:
            keras.config.enable_interactive_logging()


def _models_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models, else ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def _reason(e: Exception) -> str:
    """The cause, without the URL Keras puts first (`URL fetch failure on URL: None -- why`)."""
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text.rsplit(" -- ", 1)[-1][-160:]


def _file_of(e: Exception) -> str:
    """The file Keras looked for, from the URL its download error names."""
    for word in str(e).replace("'", " ").split():
        if word.startswith("http") and "/" in word:
            return word.rstrip(":,").rsplit("/", 1)[-1]
    return "the weights file"


def _from_file(target: keras.Model, a: Application, path: Path, loc: tuple) -> None:
    """A backbone's weights from its own file or from a cnnrun run's weights file."""
    from cnnrun.runs.weights import read_metadata

    try:
        meta = read_metadata(path)
    except UserError:
        meta = {}
    if meta.get("config"):
        _from_run(target, a, path, meta, loc)
        return
    try:
        target.load_weights(str(path))
    except Exception as e:
        raise UserError(
            Problem(
                f"{path} does not fit {a.name}: {_reason(e)}",
                (*loc, "weights"),
                hint="a weights file of the same constructor and input channels",
            )
        ) from None


def _from_run(target: keras.Model, a: Application, path: Path, meta: dict, loc: tuple) -> None:
    """The backbone of a cnnrun run: the first `application` of the same constructor."""
    from cnnrun.engine.predict import load_model

    source, _ = load_model(path)
    for layer in source.layers:
        if isinstance(layer, keras.Model) and layer.name.startswith("application_"):
            mine = [w.shape for w in target.weights]
            theirs = [w.shape for w in layer.weights]
            if mine == theirs:
                target.set_weights(layer.get_weights())
                return
    raise UserError(
        Problem(
            f"{path} holds no {a.name} backbone of this shape",
            (*loc, "weights"),
            hint="the weights file of a run whose network has this backbone",
        )
    )
