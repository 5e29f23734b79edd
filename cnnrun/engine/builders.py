"""The Keras builder of every layer kind, each declared once with `builds` under its kind's
name; at import, the builders and the kinds of `cnnrun.config.layers` are checked to agree.

A plain kind's builder takes its validated arguments and Keras's `name` and `dtype` and
returns a Keras layer. A block's builder takes the arguments, the same keywords, the input
tensor, `apply`, which builds a layer list onto a tensor, and `get(name, make)`, which makes
a layer (or, replaying a built model, finds it); it returns the block's output tensor, made
by a layer named as the block (`residual_3`). Blocks are made of stock Keras layers, so a
saved model loads in plain Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import keras

from cnnrun.config.layers import REGISTRY
from cnnrun.config.layers.augmentation import (
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from cnnrun.config.layers.base import NoArgs
from cnnrun.config.layers.blocks import Residual, projection_strides
from cnnrun.config.layers.convolution import Conv2D, DepthwiseConv2D, SeparableConv2D
from cnnrun.config.layers.core import ActivationLayer, Dense
from cnnrun.config.layers.normalization import BatchNorm, GroupNorm, LayerNorm
from cnnrun.config.layers.pooling import MaxPool2D
from cnnrun.config.layers.regularization import (
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout2D,
)
from cnnrun.config.layers.reshaping import ZeroPadding2D

L = keras.layers
Kw = dict[str, Any]  # Keras's `name` and `dtype` (the precision policy) of the layer
Apply = Callable[..., Any]
Get = Callable[[str, Callable[[], Any]], Any]
F = TypeVar("F", bound=Callable[..., Any])

BUILDERS: dict[str, Callable[..., Any]] = {}


def builds(name: str) -> Callable[[F], F]:
    """Declare the Keras builder of the layer kind `name`.

    Raises:
        ValueError: no kind of that name is declared in `cnnrun.config.layers`, or it has a
            builder already.
    """

    def declare(build: F) -> F:
        if name not in REGISTRY or name in BUILDERS:
            raise ValueError(f"layer kind {name!r}: not declared, or built twice")
        BUILDERS[name] = build
        return build

    return declare


def _reg(l2: float | None) -> Any:
    return keras.regularizers.L2(l2) if l2 else None


def _act(name: str) -> str | None:
    return None if name == "linear" else name


def _window(a: Conv2D | DepthwiseConv2D) -> Kw:
    """The arguments every sliding-window convolution kind shares, as Keras names them."""
    return {
        "strides": a.strides,
        "padding": a.padding,
        "dilation_rate": a.dilation_rate,
        "activation": _act(a.activation),
        "use_bias": a.use_bias,
    }


@builds("conv2d")
def conv2d(a: Conv2D, kw: Kw) -> keras.layers.Layer:
    return L.Conv2D(a.filters, a.kernel_size, kernel_regularizer=_reg(a.l2), **_window(a), **kw)


@builds("depthwiseconv2d")
def depthwiseconv2d(a: DepthwiseConv2D, kw: Kw) -> keras.layers.Layer:
    return L.DepthwiseConv2D(a.kernel_size, depth_multiplier=a.depth_multiplier, **_window(a), **kw)


@builds("separableconv2d")
def separableconv2d(a: SeparableConv2D, kw: Kw) -> keras.layers.Layer:
    reg = _reg(a.l2)
    return L.SeparableConv2D(
        a.filters,
        a.kernel_size,
        depth_multiplier=a.depth_multiplier,
        depthwise_regularizer=reg,
        pointwise_regularizer=reg,
        **_window(a),
        **kw,
    )


@builds("dense")
def dense(a: Dense, kw: Kw) -> keras.layers.Layer:
    act, reg = _act(a.activation), _reg(a.l2)
    return L.Dense(a.units, activation=act, use_bias=a.use_bias, kernel_regularizer=reg, **kw)


@builds("activation")
def activation(a: ActivationLayer, kw: Kw) -> keras.layers.Layer:
    return L.Activation(a.activation, **kw)


@builds("maxpool2d")
def maxpool2d(a: MaxPool2D, kw: Kw) -> keras.layers.Layer:
    return L.MaxPooling2D(a.pool_size, strides=a.strides, padding=a.padding, **kw)


@builds("avgpool2d")
def avgpool2d(a: MaxPool2D, kw: Kw) -> keras.layers.Layer:
    return L.AveragePooling2D(a.pool_size, strides=a.strides, padding=a.padding, **kw)


@builds("globalavgpool2d")
def globalavgpool2d(a: NoArgs, kw: Kw) -> keras.layers.Layer:
    return L.GlobalAveragePooling2D(**kw)


@builds("globalmaxpool2d")
def globalmaxpool2d(a: NoArgs, kw: Kw) -> keras.layers.Layer:
    return L.GlobalMaxPooling2D(**kw)


@builds("flatten")
def flatten(a: NoArgs, kw: Kw) -> keras.layers.Layer:
    return L.Flatten(**kw)


@builds("zeropadding2d")
def zeropadding2d(a: ZeroPadding2D, kw: Kw) -> keras.layers.Layer:
    return L.ZeroPadding2D(a.padding, **kw)


@builds("dropout")
def dropout(a: Dropout, kw: Kw) -> keras.layers.Layer:
    return L.Dropout(a.rate, **kw)


@builds("spatialdropout2d")
def spatialdropout2d(a: SpatialDropout2D, kw: Kw) -> keras.layers.Layer:
    return L.SpatialDropout2D(a.rate, **kw)


@builds("gaussiandropout")
def gaussiandropout(a: GaussianDropout, kw: Kw) -> keras.layers.Layer:
    return L.GaussianDropout(a.rate, **kw)


@builds("gaussiannoise")
def gaussiannoise(a: GaussianNoise, kw: Kw) -> keras.layers.Layer:
    return L.GaussianNoise(a.stddev, **kw)


@builds("batchnorm")
def batchnorm(a: BatchNorm, kw: Kw) -> keras.layers.Layer:
    return L.BatchNormalization(
        momentum=a.momentum, epsilon=a.epsilon, center=a.center, scale=a.scale, **kw
    )


@builds("layernorm")
def layernorm(a: LayerNorm, kw: Kw) -> keras.layers.Layer:
    return L.LayerNormalization(epsilon=a.epsilon, center=a.center, scale=a.scale, **kw)


@builds("groupnorm")
def groupnorm(a: GroupNorm, kw: Kw) -> keras.layers.Layer:
    return L.GroupNormalization(a.groups, epsilon=a.epsilon, center=a.center, scale=a.scale, **kw)


@builds("randomflip")
def randomflip(a: RandomFlip, kw: Kw) -> keras.layers.Layer:
    return L.RandomFlip(a.mode, **kw)


@builds("randomrotation")
def randomrotation(a: RandomRotation, kw: Kw) -> keras.layers.Layer:
    return L.RandomRotation(a.factor, fill_mode=a.fill_mode, **kw)


@builds("randomzoom")
def randomzoom(a: RandomZoom, kw: Kw) -> keras.layers.Layer:
    return L.RandomZoom(a.height_factor, a.width_factor, fill_mode=a.fill_mode, **kw)


@builds("randomtranslation")
def randomtranslation(a: RandomTranslation, kw: Kw) -> keras.layers.Layer:
    return L.RandomTranslation(a.height_factor, a.width_factor, fill_mode=a.fill_mode, **kw)


@builds("randomcontrast")
def randomcontrast(a: RandomContrast, kw: Kw) -> keras.layers.Layer:
    return L.RandomContrast(a.factor, value_range=a.value_range, **kw)


@builds("residual")
def residual(a: Residual, kw: Kw, x: Any, apply: Apply, get: Get) -> Any:
    """activation(inner(x) + shortcut(x)): stock `Add` and `Activation` layers, no custom class.

    The shortcut is `x` itself, or a 1x1 convolution (a dense layer on flat inputs) onto the
    inner output's shape, named `<block>_projection`; the shape rule has checked it exists.
    """
    name, dtype = kw["name"], kw["dtype"]
    inner = apply(a.layers, x, f"{name.split('_', 1)[1]}_", dtype)
    short = x
    if a.shortcut == "projection":
        out, proj = inner.shape, f"{name}_projection"
        if len(out) == 2:
            short = get(proj, lambda: L.Dense(out[-1], name=proj, dtype=dtype))(x)
        else:
            strides = projection_strides(tuple(x.shape[1:]), tuple(out[1:]))
            short = get(
                proj, lambda: L.Conv2D(out[-1], 1, strides=strides, name=proj, dtype=dtype)
            )(x)
    added = get(f"{name}_add", lambda: L.Add(name=f"{name}_add", dtype=dtype))([inner, short])
    return get(name, lambda: L.Activation(a.activation, **kw))(added)


def check_agreement() -> None:
    """Every declared kind has a builder, and every builder a kind.

    Raises:
        RuntimeError: naming the kinds on either side alone.
    """
    missing, extra = set(REGISTRY) - set(BUILDERS), set(BUILDERS) - set(REGISTRY)
    if missing or extra:
        raise RuntimeError(
            f"layer kinds without a builder: {sorted(missing)}; builders without a kind: "
            f"{sorted(extra)}: declare each kind in cnnrun.config.layers and its builder here"
        )


check_agreement()
