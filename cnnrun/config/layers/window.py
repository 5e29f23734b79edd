"""The sliding window's shape rule, shared by convolutions and pooling, as Keras 3 computes it
(`keras/src/ops/operation_utils.py`).

Example:
    >>> conv_out(8, kernel=3, stride=2, dilation=1, padding="valid")
    3
"""

from __future__ import annotations

from cnnrun.config.layers.base import Loc, Shape, ShapeError
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
