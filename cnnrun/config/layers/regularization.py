"""Regularisation, active in training only: `dropout`, `spatialdropout2d`, `gaussiandropout`,
`gaussiannoise`."""

from __future__ import annotations

from typing import Any

from cnnrun.config.fields import NonNegFloat, Rate
from cnnrun.config.layers.base import LayerArgs, kind

NOISE: dict[str, Any] = {"dropout": True, "passthrough": True}


@kind("dropout", keras="Dropout", shorthand="rate", **NOISE, example={"rate": 0.3})
class Dropout(LayerArgs):
    rate: Rate


@kind(
    "spatialdropout2d",
    keras="SpatialDropout2D",
    shorthand="rate",
    image_only=True,
    **NOISE,
    example={"rate": 0.3},
)
class SpatialDropout2D(LayerArgs):
    rate: Rate


@kind("gaussiandropout", keras="GaussianDropout", shorthand="rate", **NOISE, example={"rate": 0.3})
class GaussianDropout(LayerArgs):
    rate: Rate


@kind("gaussiannoise", keras="GaussianNoise", shorthand="stddev", **NOISE, example={"stddev": 0.1})
class GaussianNoise(LayerArgs):
    stddev: NonNegFloat
