"""Blocks, kinds that hold a layer list of their own: `residual`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cnnrun.config.fields import Activation
from cnnrun.config.layers.base import (
    Infer,
    LayerArgs,
    LayerEntry,
    Loc,
    Shape,
    ShapeError,
    Step,
    kind,
)
from cnnrun.errors import Problem


def projection_strides(shape: Shape, out: Shape) -> tuple[int, int] | None:
    """The strides of a 1x1 convolution from `shape` onto `out`'s height and width, or None.

    A 1x1 window with stride s gives ceil(size / s), so s = ceil(size / target) when any does.

    Example:
        >>> projection_strides((8, 8, 4), (4, 4, 16)), projection_strides((8, 8, 4), (5, 5, 4))
        ((2, 2), None)
    """
    strides = (-(-shape[0] // out[0]), -(-shape[1] // out[1]))
    ok = all(-(-n // st) == t for n, st, t in zip(shape[:2], strides, out[:2], strict=True))
    return strides if ok else None


@kind(
    "residual",
    activation_arg=True,
    example={"layers": [{"conv2d": {"filters": 4, "padding": "same"}}]},
)
class Residual(LayerArgs):
    layers: Annotated[list[LayerEntry], Field(min_length=1)]
    shortcut: Literal["identity", "projection"] = Field(
        "identity",
        description="identity: the block's input as it is; projection: a 1x1 convolution "
        "(a dense layer on flat inputs) with the strides and filters the inner output needs",
    )
    activation: Activation = "relu"

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        rows, out = infer(self.layers, shape, (*loc, "layers"))
        if self.shortcut == "identity":
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
        params, macs = self._projection(shape, out, loc)
        return Step(out, params, params, macs, inner=rows)

    def _projection(self, shape: Shape, out: Shape, loc: Loc) -> tuple[int, int]:
        """The projection shortcut's parameters and multiply-adds."""
        if len(shape) != len(out):
            raise ShapeError(
                Problem(
                    f"a projection cannot map the block's input {shape} onto its inner output "
                    f"{out}",
                    (*loc, "shortcut"),
                    hint="keep flatten and global pooling outside the block",
                )
            )
        if len(out) == 1:
            return shape[0] * out[0] + out[0], shape[0] * out[0]
        if projection_strides(shape, out) is None:
            raise ShapeError(
                Problem(
                    f"no strided 1x1 convolution maps the block's input {shape[0]}x{shape[1]} "
                    f"onto its inner output {out[0]}x{out[1]}",
                    (*loc, "shortcut"),
                    hint="use padding: same in the block's convolutions",
                )
            )
        return shape[2] * out[2] + out[2], out[0] * out[1] * shape[2] * out[2]
