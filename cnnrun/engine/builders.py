"""The Keras builder of every layer kind, each declared once with `builds` under its kind's
name; at import, the builders and the kinds of `cnnrun.config.layers` are checked to agree.

A plain kind's builder takes its validated arguments and Keras's `name` and `dtype` and
returns a Keras layer; a kind whose arguments are its Keras class's own, by the same names,
is built by `as_keras` (named in `AS_KERAS_HAS_THEM`). A block's builder takes the
arguments, the same keywords, the input tensor, `apply`, which builds a layer list onto a
tensor, and `get(name, make)`, which makes a layer (or, replaying a built model, finds it);
it returns the block's output tensor, made by a layer named as the block (`residual_3`).
Blocks are made of stock Keras layers, so a saved model loads in plain Keras. A backbone
(`application`, in `cnnrun.engine.backbones`) is built as a block is, onto its input tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import keras

from cnnrun.config.layers import REGISTRY, LayerArgs
from cnnrun.config.layers.blocks import Residual, projection_strides
from cnnrun.config.layers.convolution import Conv2D, DepthwiseConv2D, SeparableConv2D
from cnnrun.config.layers.core import Dense
from cnnrun.engine import backbones

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


# Kinds whose Keras class takes the kind's arguments under their own names, as they are.
AS_KERAS_HAS_THEM = (
    "activation",
    "maxpool2d",
    "avgpool2d",
    "globalavgpool2d",
    "globalmaxpool2d",
    "flatten",
    "zeropadding2d",
    "dropout",
    "spatialdropout2d",
    "gaussiandropout",
    "gaussiannoise",
    "batchnorm",
    "layernorm",
    "groupnorm",
    "randomflip",
    "randomrotation",
    "randomzoom",
    "randomtranslation",
    "randomcontrast",
    "randaugment",
    "augmix",
    "randomcolorjitter",
    "randomerasing",
    "randombrightness",
    "randomcrop",
)


def as_keras(name: str) -> Callable[[LayerArgs, Kw], keras.layers.Layer]:
    """The builder of a kind whose arguments are its Keras class's, by the same names."""
    spec = REGISTRY[name]
    cls = getattr(keras.layers, spec.keras or "")

    def build(a: LayerArgs, kw: Kw) -> keras.layers.Layer:
        return cls(**{k: getattr(a, k) for k in spec.keras_arguments}, **kw)

    return build


for _name in AS_KERAS_HAS_THEM:
    builds(_name)(as_keras(_name))
builds("application")(backbones.build)


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
