"""The Keras builder of every layer kind in the registry, keyed by the kind's name.

A plain kind's builder takes its validated arguments and a layer name and returns a Keras
layer. A block's builder (`BLOCKS`) takes the arguments, a name, the input tensor and
`apply`, which builds a layer list onto a tensor, and returns the block's output tensor,
made by a layer named as the block (`residual_3`): blocks are made of stock Keras layers,
so a saved model loads in plain Keras.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from cnnrun.config.kinds import projection_strides
from cnnrun.config.layers import REGISTRY, LayerEntry

L = keras.layers


def _reg(l2: float | None) -> Any:
    return keras.regularizers.L2(l2) if l2 else None


def _act(name: str) -> str | None:
    return None if name == "linear" else name


LAYERS: dict[str, Callable[[Any, str], keras.layers.Layer]] = {
    "conv2d": lambda a, name: L.Conv2D(
        a.filters,
        a.kernel_size,
        strides=a.strides,
        padding=a.padding,
        dilation_rate=a.dilation_rate,
        activation=_act(a.activation),
        use_bias=a.use_bias,
        kernel_regularizer=_reg(a.l2),
        name=name,
    ),
    "dense": lambda a, name: L.Dense(
        a.units,
        activation=_act(a.activation),
        use_bias=a.use_bias,
        kernel_regularizer=_reg(a.l2),
        name=name,
    ),
    "depthwiseconv2d": lambda a, name: L.DepthwiseConv2D(
        a.kernel_size,
        strides=a.strides,
        padding=a.padding,
        depth_multiplier=a.depth_multiplier,
        dilation_rate=a.dilation_rate,
        activation=_act(a.activation),
        use_bias=a.use_bias,
        name=name,
    ),
    "separableconv2d": lambda a, name: L.SeparableConv2D(
        a.filters,
        a.kernel_size,
        strides=a.strides,
        padding=a.padding,
        dilation_rate=a.dilation_rate,
        depth_multiplier=a.depth_multiplier,
        activation=_act(a.activation),
        use_bias=a.use_bias,
        depthwise_regularizer=_reg(a.l2),
        pointwise_regularizer=_reg(a.l2),
        name=name,
    ),
    "maxpool2d": lambda a, name: L.MaxPooling2D(
        a.pool_size, strides=a.strides, padding=a.padding, name=name
    ),
    "avgpool2d": lambda a, name: L.AveragePooling2D(
        a.pool_size, strides=a.strides, padding=a.padding, name=name
    ),
    "zeropadding2d": lambda a, name: L.ZeroPadding2D(a.padding, name=name),
    "globalavgpool2d": lambda a, name: L.GlobalAveragePooling2D(name=name),
    "globalmaxpool2d": lambda a, name: L.GlobalMaxPooling2D(name=name),
    "flatten": lambda a, name: L.Flatten(name=name),
    "dropout": lambda a, name: L.Dropout(a.rate, name=name),
    "spatialdropout2d": lambda a, name: L.SpatialDropout2D(a.rate, name=name),
    "batchnorm": lambda a, name: L.BatchNormalization(
        momentum=a.momentum, epsilon=a.epsilon, center=a.center, scale=a.scale, name=name
    ),
    "activation": lambda a, name: L.Activation(a.activation, name=name),
    "layernorm": lambda a, name: L.LayerNormalization(
        epsilon=a.epsilon, center=a.center, scale=a.scale, name=name
    ),
    "groupnorm": lambda a, name: L.GroupNormalization(
        a.groups, epsilon=a.epsilon, center=a.center, scale=a.scale, name=name
    ),
    "gaussiandropout": lambda a, name: L.GaussianDropout(a.rate, name=name),
    "gaussiannoise": lambda a, name: L.GaussianNoise(a.stddev, name=name),
    "randomflip": lambda a, name: L.RandomFlip(a.mode, name=name),
    "randomrotation": lambda a, name: L.RandomRotation(a.factor, fill_mode=a.fill_mode, name=name),
    "randomzoom": lambda a, name: L.RandomZoom(
        a.height_factor, a.width_factor, fill_mode=a.fill_mode, name=name
    ),
    "randomtranslation": lambda a, name: L.RandomTranslation(
        a.height_factor, a.width_factor, fill_mode=a.fill_mode, name=name
    ),
}

Apply = Callable[[Sequence[LayerEntry], Any, str], Any]


def residual(a: Any, name: str, x: Any, apply: Apply) -> Any:
    """activation(inner(x) + shortcut(x)): stock `Add` and `Activation` layers, no custom class.

    The shortcut is `x` itself, or a 1x1 convolution (a dense layer on flat inputs) onto the
    inner output's shape, named `<block>_projection`; the shape rule has checked it exists.
    """
    inner = apply(a.layers, x, f"{name.split('_', 1)[1]}_")
    short = x
    if a.shortcut == "projection":
        out = inner.shape
        if len(out) == 2:
            short = L.Dense(out[-1], name=f"{name}_projection")(x)
        else:
            strides = projection_strides(tuple(x.shape[1:]), tuple(out[1:]))
            short = L.Conv2D(out[-1], 1, strides=strides, name=f"{name}_projection")(x)
    added = L.Add(name=f"{name}_add")([inner, short])
    return L.Activation(a.activation, name=name)(added)


BLOCKS: dict[str, Callable[[Any, str, Any, Apply], Any]] = {"residual": residual}


def apply_layers(layers: Sequence[LayerEntry], x: Any, prefix: str = "") -> Any:
    """Build `layers` onto the tensor `x`; each layer is named `<kind>_<prefix><index>`.

    The names point back at the config: `conv2d_3` is `model.layers[3]`, `dense_4_1` the
    second layer inside the block at `model.layers[4]`.
    """
    for i, entry in enumerate(layers):
        name = f"{entry.kind}_{prefix}{i}"
        if REGISTRY[entry.kind].block:
            x = BLOCKS[entry.kind](entry.args, name, x, apply_layers)
        else:
            x = LAYERS[entry.kind](entry.args, name)(x)
    return x
