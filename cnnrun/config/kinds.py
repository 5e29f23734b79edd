"""The built-in layer kinds: arguments with Keras's own names, shape rules, placement facts.

The shape rules follow Keras 3 (`keras/src/ops/operation_utils.py`);
`tests/test_layer_kinds.py` checks every kind against real Keras layers. Adding a kind is one
`register` call here and one builder in `cnnrun.engine.layers`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from cnnrun.config.fields import (
    Activation,
    Factor,
    FillMode,
    NonNegFloat,
    NonNegInt,
    Padding,
    Pair,
    PositiveInt,
    Rate,
    Section,
    number,
    pair,
)
from cnnrun.config.layers import LayerEntry, LayerKind, Loc, Shape, ShapeError, Step, register
from cnnrun.errors import Problem


def conv_out(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """One spatial output size of a convolution or pooling, as Keras computes it."""
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def spatial(
    shape: Shape,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
    loc: Loc,
    what: str,
) -> tuple[int, int]:
    """Output height and width of a sliding window; `ShapeError` when it reaches 0."""
    h, w, _ = shape
    out = (
        conv_out(h, kernel[0], strides[0], dilation[0], padding),
        conv_out(w, kernel[1], strides[1], dilation[1], padding),
    )
    if out[0] < 1 or out[1] < 1:
        eff = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
        raise ShapeError(
            Problem(
                f"{what} {eff[0]}x{eff[1]} is larger than the {h}x{w} input it gets, so the "
                "output size reaches 0",
                loc,
                hint="use padding: same, a smaller size, or fewer pooling layers before it",
            )
        )
    return out


def same_shape(a: Section, shape: Shape, loc: Loc, infer: object) -> Step:
    """The rule of layers that change no shape and hold no weights."""
    return Step(shape)


# ---- convolution and dense ---------------------------------------------------------------------


class Conv2D(Section):
    filters: PositiveInt
    kernel_size: Pair = 3
    strides: Pair = 1
    padding: Padding = "valid"
    dilation_rate: Pair = 1
    activation: Activation = "relu"
    use_bias: StrictBool = True
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on the kernel")


def _conv2d(a: Conv2D, shape: Shape, loc: Loc, infer: object) -> Step:
    kernel, hw = pair(a.kernel_size), _window(a, shape, loc)
    out = (*hw, a.filters)
    params = kernel[0] * kernel[1] * shape[2] * a.filters + (a.filters if a.use_bias else 0)
    return Step(out, params, params, math.prod(out) * kernel[0] * kernel[1] * shape[2])


class Dense(Section):
    units: PositiveInt
    activation: Activation = "relu"
    use_bias: StrictBool = True
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on the kernel")


def _dense(a: Dense, shape: Shape, loc: Loc, infer: object) -> Step:
    if len(shape) != 1:
        raise ShapeError(
            Problem(
                f"dense on an image-shaped input {shape} would act on the last axis only",
                loc,
                hint="add flatten or globalavgpool2d before it",
            )
        )
    params = shape[0] * a.units + (a.units if a.use_bias else 0)
    return Step((a.units,), params, params, shape[0] * a.units)


register(LayerKind("conv2d", Conv2D, _conv2d, image_only=True, weighted=True, activation_arg=True))
register(LayerKind("dense", Dense, _dense, weighted=True, activation_arg=True))


class DepthwiseConv2D(Section):
    kernel_size: Pair = 3
    strides: Pair = 1
    padding: Padding = "valid"
    depth_multiplier: PositiveInt = 1
    dilation_rate: Pair = 1
    activation: Activation = "relu"
    use_bias: StrictBool = True


class SeparableConv2D(DepthwiseConv2D):
    filters: PositiveInt
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on both kernels")


def _window(a: Conv2D | DepthwiseConv2D, shape: Shape, loc: Loc) -> tuple[int, int]:
    """The output height and width of a (depthwise) convolution's window."""
    kernel, strides, dil = pair(a.kernel_size), pair(a.strides), pair(a.dilation_rate)
    if max(strides) > 1 and max(dil) > 1:
        raise ShapeError(
            Problem(
                "strides > 1 and dilation_rate > 1 cannot be combined (Keras refuses it)",
                (*loc, "dilation_rate"),
            )
        )
    return spatial(shape, kernel, strides, dil, a.padding, (*loc, "kernel_size"), "kernel_size")


def _depthwise(a: DepthwiseConv2D, shape: Shape, loc: Loc, infer: object) -> Step:
    hw, (kh, kw) = _window(a, shape, loc), pair(a.kernel_size)
    channels = shape[2] * a.depth_multiplier
    params = kh * kw * channels + (channels if a.use_bias else 0)
    return Step((*hw, channels), params, params, hw[0] * hw[1] * kh * kw * channels)


def _separable(a: SeparableConv2D, shape: Shape, loc: Loc, infer: object) -> Step:
    # Keras: a depthwise convolution (strided), then a 1x1 pointwise one onto `filters`
    hw, (kh, kw) = _window(a, shape, loc), pair(a.kernel_size)
    mid = shape[2] * a.depth_multiplier
    params = kh * kw * mid + mid * a.filters + (a.filters if a.use_bias else 0)
    macs = hw[0] * hw[1] * (kh * kw * mid + mid * a.filters)
    return Step((*hw, a.filters), params, params, macs)


for _name, _args, _rule in (
    ("depthwiseconv2d", DepthwiseConv2D, _depthwise),
    ("separableconv2d", SeparableConv2D, _separable),
):
    register(LayerKind(_name, _args, _rule, image_only=True, weighted=True, activation_arg=True))


# ---- pooling and reshaping -----------------------------------------------------------------------


class MaxPool2D(Section):
    pool_size: Pair = 2
    strides: Pair | None = Field(None, description="defaults to pool_size, as in Keras")
    padding: Padding = "valid"


class AvgPool2D(MaxPool2D):
    pass


def _pool(a: MaxPool2D, shape: Shape, loc: Loc, infer: object) -> Step:
    pool = pair(a.pool_size)
    strides = pair(a.strides) if a.strides is not None else pool
    hw = spatial(shape, pool, strides, (1, 1), a.padding, (*loc, "pool_size"), "pool_size")
    return Step((*hw, shape[2]))


class NoArgs(Section):
    """A layer that takes no arguments."""


class GlobalAvgPool2D(NoArgs):
    pass


class GlobalMaxPool2D(NoArgs):
    pass


class Flatten(NoArgs):
    pass


def _global(a: Section, shape: Shape, loc: Loc, infer: object) -> Step:
    return Step((shape[2],))


def _flatten(a: Section, shape: Shape, loc: Loc, infer: object) -> Step:
    return Step((math.prod(shape),))


class ZeroPadding2D(Section):
    padding: Annotated[
        NonNegInt | tuple[NonNegInt, NonNegInt] | tuple[tuple[NonNegInt, NonNegInt], ...],
        Field(description="n, [rows, columns] or [[top, bottom], [left, right]], as in Keras"),
    ] = 1


def _sides(padding: int | tuple) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return (padding,) * 4
    if isinstance(padding[0], int):
        return padding[0], padding[0], padding[1], padding[1]
    return (*padding[0], *padding[1])


def _zeropadding2d(a: ZeroPadding2D, shape: Shape, loc: Loc, infer: object) -> Step:
    if isinstance(a.padding, tuple) and not isinstance(a.padding[0], int) and len(a.padding) != 2:
        raise ShapeError(Problem("expected [[top, bottom], [left, right]]", (*loc, "padding")))
    top, bottom, left, right = _sides(a.padding)
    return Step((shape[0] + top + bottom, shape[1] + left + right, shape[2]))


register(LayerKind("zeropadding2d", ZeroPadding2D, _zeropadding2d, "padding", image_only=True))
register(LayerKind("maxpool2d", MaxPool2D, _pool, image_only=True))
register(LayerKind("avgpool2d", AvgPool2D, _pool, image_only=True))
register(LayerKind("globalavgpool2d", GlobalAvgPool2D, _global, image_only=True))
register(LayerKind("globalmaxpool2d", GlobalMaxPool2D, _global, image_only=True))
register(LayerKind("flatten", Flatten, _flatten))


# ---- regularisation and normalisation ------------------------------------------------------------


class Dropout(Section):
    rate: Rate


class SpatialDropout2D(Section):
    rate: Rate


class BatchNorm(Section):
    momentum: number(gt=0, lt=1) = 0.99
    epsilon: number(gt=0) = 0.001
    center: StrictBool = True
    scale: StrictBool = True


def _batchnorm(a: BatchNorm, shape: Shape, loc: Loc, infer: object) -> Step:
    channels = shape[-1]
    trainable = channels * (int(a.center) + int(a.scale))
    # moving mean and variance are weights too, not trained; at inference one scale-and-shift
    # per value
    return Step(shape, trainable + 2 * channels, trainable, math.prod(shape))


class ActivationLayer(Section):
    activation: Activation


register(LayerKind("dropout", Dropout, same_shape, "rate", dropout=True, passthrough=True))
register(
    LayerKind(
        "spatialdropout2d",
        SpatialDropout2D,
        same_shape,
        "rate",
        image_only=True,
        dropout=True,
        passthrough=True,
    )
)
register(LayerKind("batchnorm", BatchNorm, _batchnorm, normalization=True))
register(LayerKind("activation", ActivationLayer, same_shape, "activation", activation_arg=True))


class LayerNorm(Section):
    epsilon: number(gt=0) = 0.001
    center: StrictBool = True
    scale: StrictBool = True


class GroupNorm(LayerNorm):
    groups: PositiveInt = 32


def _layernorm(a: LayerNorm, shape: Shape, loc: Loc, infer: object) -> Step:
    # Keras normalises over the last axis, per sample; gamma and beta are per channel
    trainable = shape[-1] * (int(a.center) + int(a.scale))
    return Step(shape, trainable, trainable, math.prod(shape))


def _groupnorm(a: GroupNorm, shape: Shape, loc: Loc, infer: object) -> Step:
    if shape[-1] % a.groups:
        raise ShapeError(
            Problem(
                f"{a.groups} groups do not divide the {shape[-1]} channels of its input",
                (*loc, "groups"),
                hint=f"use a divisor of {shape[-1]}",
            )
        )
    return _layernorm(a, shape, loc, infer)


class GaussianDropout(Section):
    rate: Rate


class GaussianNoise(Section):
    stddev: NonNegFloat


# Layer and group norm use each sample's own statistics, at training and at test time alike:
# no moving averages to lag or to shift, so they are not `normalization` for the lint.
register(LayerKind("layernorm", LayerNorm, _layernorm))
register(LayerKind("groupnorm", GroupNorm, _groupnorm))
for _name, _args, _short in (
    ("gaussiandropout", GaussianDropout, "rate"),
    ("gaussiannoise", GaussianNoise, "stddev"),
):
    register(LayerKind(_name, _args, same_shape, _short, dropout=True, passthrough=True))


# ---- blocks --------------------------------------------------------------------------------------


class Residual(Section):
    layers: Annotated[list[LayerEntry], Field(min_length=1)]
    shortcut: Literal["identity", "projection"] = Field(
        "identity",
        description="identity: the block's input as it is; projection: a 1x1 convolution "
        "(a dense layer on flat inputs) with the strides and filters the inner output needs",
    )
    activation: Activation = "relu"


def projection_strides(shape: Shape, out: Shape) -> tuple[int, int] | None:
    """The strides of a 1x1 convolution from `shape` onto `out`'s height and width, or None.

    A 1x1 window with stride s gives ceil(size / s), so s = ceil(size / target) when any does.
    """
    strides = (-(-shape[0] // out[0]), -(-shape[1] // out[1]))
    ok = all(-(-n // st) == t for n, st, t in zip(shape[:2], strides, out[:2], strict=True))
    return strides if ok else None


def _residual(a: Residual, shape: Shape, loc: Loc, infer: Any) -> Step:
    rows, out = infer(a.layers, shape, (*loc, "layers"))
    if a.shortcut == "identity":
        if out != shape:
            raise ShapeError(
                Problem(
                    f"an identity shortcut adds the block's input {shape} to its inner "
                    f"layers' output {out}, and the shapes differ",
                    (*loc, "shortcut"),
                    hint="use shortcut: projection, or inner layers that keep the shape "
                    "(padding: same, strides 1, as many filters as the input has channels)",
                )
            )
        return Step(out, inner=rows)
    if len(shape) != len(out):
        raise ShapeError(
            Problem(
                f"a projection cannot map the block's input {shape} onto its inner output {out}",
                (*loc, "shortcut"),
                hint="keep flatten and global pooling outside the block",
            )
        )
    if len(out) == 1:
        params = shape[0] * out[0] + out[0]
        return Step(out, params, params, shape[0] * out[0], inner=rows)
    strides = projection_strides(shape, out)
    if strides is None:
        raise ShapeError(
            Problem(
                f"no strided 1x1 convolution maps the block's input {shape[0]}x{shape[1]} onto "
                f"its inner output {out[0]}x{out[1]}",
                (*loc, "shortcut"),
                hint="use padding: same in the block's convolutions",
            )
        )
    params = shape[2] * out[2] + out[2]
    return Step(out, params, params, out[0] * out[1] * shape[2] * out[2], inner=rows)


register(LayerKind("residual", Residual, _residual, activation_arg=True))


# ---- augmentation (active in training only) ------------------------------------------------------


class RandomFlip(Section):
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal_and_vertical"


class RandomRotation(Section):
    factor: Factor
    fill_mode: FillMode = "reflect"


class RandomZoom(Section):
    height_factor: Factor
    width_factor: Factor | None = None
    fill_mode: FillMode = "reflect"


class RandomTranslation(Section):
    height_factor: Factor
    width_factor: Factor
    fill_mode: FillMode = "reflect"


for _name, _args, _short in (
    ("randomflip", RandomFlip, None),
    ("randomrotation", RandomRotation, "factor"),
    ("randomzoom", RandomZoom, None),
    ("randomtranslation", RandomTranslation, None),
):
    register(LayerKind(_name, _args, same_shape, _short, image_only=True, passthrough=True))
