"""Pooling: `maxpool2d`, `avgpool2d`, `globalavgpool2d`, `globalmaxpool2d`."""

from __future__ import annotations

from pydantic import Field

from cnnrun.config.fields import Padding, Pair, pair
from cnnrun.config.layers.base import Infer, LayerArgs, Loc, NoArgs, Shape, Step, kind
from cnnrun.config.layers.window import spatial


@kind(
    "maxpool2d",
    keras="MaxPooling2D",
    image_only=True,
    example={"pool_size": 3, "strides": 2, "padding": "same"},
)
class MaxPool2D(LayerArgs):
    pool_size: Pair = 2
    strides: Pair | None = Field(None, description="defaults to pool_size, as in Keras")
    padding: Padding = "valid"

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        pool = pair(self.pool_size)
        strides = pair(self.strides) if self.strides is not None else pool
        where = (*loc, "pool_size")
        return Step(
            (*spatial(shape, pool, strides, (1, 1), self.padding, where, "pool_size"), shape[2])
        )


@kind("avgpool2d", keras="AveragePooling2D", image_only=True, example={"pool_size": 2})
class AvgPool2D(MaxPool2D):
    pass


class GlobalPool(NoArgs):
    """A global pooling: one value per channel."""

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        return Step((shape[2],))


@kind("globalavgpool2d", keras="GlobalAveragePooling2D", image_only=True)
class GlobalAvgPool2D(GlobalPool):
    pass


@kind("globalmaxpool2d", keras="GlobalMaxPooling2D", image_only=True)
class GlobalMaxPool2D(GlobalPool):
    pass
