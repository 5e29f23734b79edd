"""Normalisation: `batchnorm`, `layernorm`, `groupnorm`."""

from __future__ import annotations

import math

from pydantic import StrictBool

from cnnrun.config.fields import PositiveInt, number
from cnnrun.config.layers.base import Infer, LayerArgs, Loc, Shape, ShapeError, Step, kind
from cnnrun.errors import Problem


@kind(
    "batchnorm",
    keras="BatchNormalization",
    normalization=True,
    example={"momentum": 0.9, "center": False},
)
class BatchNorm(LayerArgs):
    momentum: number(gt=0, lt=1) = 0.99
    epsilon: number(gt=0) = 0.001
    center: StrictBool = True
    scale: StrictBool = True

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        channels = shape[-1]
        trainable = channels * (int(self.center) + int(self.scale))
        # moving mean and variance are weights too, not trained; at inference one
        # scale-and-shift per value
        return Step(shape, trainable + 2 * channels, trainable, math.prod(shape))


# Layer and group norm use each sample's own statistics, at training and at test time alike:
# no moving averages to lag or to shift, so they are not `normalization` for the lint.
@kind("layernorm", keras="LayerNormalization", example={"scale": False})
class LayerNorm(LayerArgs):
    epsilon: number(gt=0) = 0.001
    center: StrictBool = True
    scale: StrictBool = True

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        # Keras normalises over the last axis, per sample; gamma and beta are per channel
        trainable = shape[-1] * (int(self.center) + int(self.scale))
        return Step(shape, trainable, trainable, math.prod(shape))


@kind("groupnorm", keras="GroupNormalization", example={"groups": 2})
class GroupNorm(LayerNorm):
    groups: PositiveInt = 32

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        if shape[-1] % self.groups:
            raise ShapeError(
                Problem(
                    f"{self.groups} groups do not divide the {shape[-1]} channels of its input",
                    (*loc, "groups"),
                    hint=f"use a divisor of {shape[-1]}",
                )
            )
        return super().output(shape, loc, infer)
