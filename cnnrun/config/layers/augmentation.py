"""Augmentation, active in training only: `randomflip`, `randomrotation`, `randomzoom`,
`randomtranslation`, `randomcontrast`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cnnrun.config.fields import Factor, FillMode, number
from cnnrun.config.layers.base import LayerArgs, kind

AUGMENTATION: dict[str, Any] = {"image_only": True, "passthrough": True}


@kind("randomflip", keras="RandomFlip", **AUGMENTATION, example={"mode": "horizontal"})
class RandomFlip(LayerArgs):
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal_and_vertical"


@kind(
    "randomrotation",
    keras="RandomRotation",
    shorthand="factor",
    **AUGMENTATION,
    example={"factor": 0.1},
)
class RandomRotation(LayerArgs):
    factor: Factor
    fill_mode: FillMode = "reflect"


@kind("randomzoom", keras="RandomZoom", **AUGMENTATION, example={"height_factor": [-0.2, 0.1]})
class RandomZoom(LayerArgs):
    height_factor: Factor
    width_factor: Factor | None = None
    fill_mode: FillMode = "reflect"


@kind(
    "randomtranslation",
    keras="RandomTranslation",
    **AUGMENTATION,
    example={"height_factor": 0.1, "width_factor": 0.2},
)
class RandomTranslation(LayerArgs):
    height_factor: Factor
    width_factor: Factor
    fill_mode: FillMode = "reflect"


Fraction = number(ge=0, le=1)


@kind(
    "randomcontrast",
    keras="RandomContrast",
    shorthand="factor",
    **AUGMENTATION,
    example={"factor": 0.2},
)
class RandomContrast(LayerArgs):
    factor: Fraction | tuple[Fraction, Fraction] = Field(
        description="the contrast factor is drawn from [1 - lower, 1 + upper]; one number is both"
    )
    value_range: tuple[number(), number()] = Field(
        (0.0, 1.0),
        description="the pixels' range, which outputs are clipped to: cnnrun's are [0, 1]",
    )
