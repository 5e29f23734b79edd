"""Pretrained backbones in a network: `application`'s builder, and its weights.

The builder puts the family's input preprocessing inside the network, as a fixed 1x1
convolution named `<layer>_preprocess` (cnnrun's [0, 1] pixels, grey or RGB, onto what the
family's `preprocess_input` gives from 0..255 RGB: caffe's BGR means, -1..1, ImageNet's mean
and deviation, or 0..255 for the families that carry it inside), then the Keras model itself,
named as the layer (`application_0`); its batchnorms' mode is their `trainable`
(`set_trainable`). It is always built with random weights: `cnnrun.engine.pretrained` fills
them for a new run, and a run's own weights file (predict, export, resume) has them all, so
nothing is downloaded then.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from cnnrun.config.layers.backbones import Application
from cnnrun.config.layers.base import walk
from cnnrun.config.schema import Config


def constructor(name: str) -> Any:
    return getattr(keras.applications, name)


def _preprocess(a: Application, channels: int, name: str) -> keras.layers.Layer:
    pre = a.info["preprocess"]
    kernel = np.zeros((1, 1, channels, 3), np.float32)
    for out, (src, scale) in enumerate(zip(pre["src"], pre["scale"], strict=True)):
        kernel[0, 0, 0 if channels == 1 else src, out] = 255.0 * scale
    bias = np.asarray(pre["offset"], np.float32)
    layer = keras.layers.Conv2D(
        3,
        1,
        name=name,
        trainable=False,
        kernel_initializer=keras.initializers.Constant(kernel),
        bias_initializer=keras.initializers.Constant(bias),
        dtype="float32",
    )
    return layer


def _backbone(a: Application, shape: tuple[int, ...], dtype: str, name: str) -> keras.Model:
    model = constructor(a.name)(include_top=False, weights=None, input_shape=shape, name=name)
    set_trainable(model, a.trainable, a.batchnorm)
    if dtype != "float32":
        for layer in model.layers:
            layer.dtype_policy = dtype
    return model


def set_trainable(model: keras.Model, trainable: bool, batchnorm: str, last: int = 0) -> None:
    """Freeze or unfreeze a backbone: all of it, or (`last` > 0) its last `last` layers.

    A batchnorm's mode decides its own `trainable`, frozen part or not: in Keras 3 a batchnorm
    whose `trainable` is False runs in inference mode even under `training=True`, and that
    is what keeps `inference` batchnorms on their statistics (a functional model passes its
    own `training` to every layer it calls, over an inner call's `training=False`), while
    `train` batchnorms learn from each batch even inside a frozen part.
    """
    model.trainable = True
    layers = model.layers
    open_from = 0 if trainable and not last else len(layers) - last if last else len(layers)
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = batchnorm == "train"
        else:
            layer.trainable = i >= open_from


def build(a: Application, kw: dict[str, Any], x: Any, apply: Any, get: Any) -> Any:
    """The builder of `application`, called as a block's is: onto the tensor `x`, its layers
    made (or, replaying a built model, found) through `get`."""
    name = kw["name"]
    pre = get(f"{name}_preprocess", lambda: _preprocess(a, int(x.shape[-1]), f"{name}_preprocess"))
    y = pre(x)
    backbone = get(name, lambda: _backbone(a, tuple(y.shape[1:]), kw["dtype"], name))
    return backbone(y)


def backbones(config: Config) -> list[tuple[tuple, str, Application]]:
    """Every `application` layer: its field path, its Keras name and its arguments."""
    out = []
    for loc, entry in walk(config.model.layers):
        if entry.spec.backbone:
            prefix = "_".join(str(p) for p in loc[2:-1] if isinstance(p, int))
            out.append((loc, f"{entry.kind}_{prefix}", entry.args))
    return out
