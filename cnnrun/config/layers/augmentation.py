"""Augmentation, active in training only: `randomflip`, `randomrotation`, `randomzoom`,
`randomtranslation`."""

from __future__ import annotations

from typing import Any, Literal

from cnnrun.config.fields import Factor, FillMode
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
