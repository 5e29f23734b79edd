"""Reshaping: `flatten`, `zeropadding2d`."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from cnnrun.config.fields import NonNegInt
from cnnrun.config.layers.base import (
    Infer,
    LayerArgs,
    Loc,
    NoArgs,
    Shape,
    ShapeError,
    Step,
    kind,
)
from cnnrun.errors import Problem


@kind("flatten", keras="Flatten")
class Flatten(NoArgs):
    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        return Step((math.prod(shape),))


@kind(
    "zeropadding2d",
    keras="ZeroPadding2D",
    shorthand="padding",
    image_only=True,
    example={"padding": [[1, 2], [0, 3]]},
)
class ZeroPadding2D(LayerArgs):
    padding: Annotated[
        NonNegInt | tuple[NonNegInt, NonNegInt] | tuple[tuple[NonNegInt, NonNegInt], ...],
        Field(description="n, [rows, columns] or [[top, bottom], [left, right]], as in Keras"),
    ] = 1

    def sides(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right), however the padding was written."""
        p = self.padding
        if isinstance(p, int):
            return (p,) * 4
        if isinstance(p[0], int):
            return p[0], p[0], p[1], p[1]
        return (*p[0], *p[1])

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        p = self.padding
        if isinstance(p, tuple) and not isinstance(p[0], int) and len(p) != 2:
            raise ShapeError(Problem("expected [[top, bottom], [left, right]]", (*loc, "padding")))
        top, bottom, left, right = self.sides()
        return Step((shape[0] + top + bottom, shape[1] + left + right, shape[2]))
