"""Convolutions: `conv2d`, `depthwiseconv2d`, `separableconv2d`."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, StrictBool

from cnnrun.config.fields import Activation, NonNegFloat, Padding, Pair, PositiveInt, pair
from cnnrun.config.layers.base import Infer, LayerArgs, Loc, Shape, ShapeError, Step, kind
from cnnrun.config.layers.window import spatial
from cnnrun.errors import Problem

CONVOLUTION: dict[str, Any] = {"image_only": True, "weighted": True, "activation_arg": True}


def window(a: Conv2D | DepthwiseConv2D, shape: Shape, loc: Loc) -> tuple[int, int]:
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


@kind(
    "conv2d",
    keras="Conv2D",
    **CONVOLUTION,
    example={"filters": 5, "kernel_size": [3, 2], "strides": 2},
)
class Conv2D(LayerArgs):
    filters: PositiveInt
    kernel_size: Pair = 3
    strides: Pair = 1
    padding: Padding = "valid"
    dilation_rate: Pair = 1
    activation: Activation = "relu"
    use_bias: StrictBool = True
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on the kernel")

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        kh, kw = pair(self.kernel_size)
        out = (*window(self, shape, loc), self.filters)
        params = kh * kw * shape[2] * self.filters + (self.filters if self.use_bias else 0)
        return Step(out, params, params, math.prod(out) * kh * kw * shape[2])


@kind(
    "depthwiseconv2d",
    keras="DepthwiseConv2D",
    **CONVOLUTION,
    example={"kernel_size": [3, 2], "depth_multiplier": 3},
)
class DepthwiseConv2D(LayerArgs):
    kernel_size: Pair = 3
    strides: Pair = 1
    padding: Padding = "valid"
    depth_multiplier: PositiveInt = 1
    dilation_rate: Pair = 1
    activation: Activation = "relu"
    use_bias: StrictBool = True

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        hw, (kh, kw) = window(self, shape, loc), pair(self.kernel_size)
        channels = shape[2] * self.depth_multiplier
        params = kh * kw * channels + (channels if self.use_bias else 0)
        return Step((*hw, channels), params, params, hw[0] * hw[1] * kh * kw * channels)


@kind(
    "separableconv2d",
    keras="SeparableConv2D",
    **CONVOLUTION,
    example={"filters": 5, "strides": 2, "depth_multiplier": 2},
)
class SeparableConv2D(DepthwiseConv2D):
    filters: PositiveInt
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on both kernels")

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        # Keras: a depthwise convolution (strided), then a 1x1 pointwise one onto `filters`
        hw, (kh, kw) = window(self, shape, loc), pair(self.kernel_size)
        mid = shape[2] * self.depth_multiplier
        params = kh * kw * mid + mid * self.filters + (self.filters if self.use_bias else 0)
        macs = hw[0] * hw[1] * (kh * kw * mid + mid * self.filters)
        return Step((*hw, self.filters), params, params, macs)
