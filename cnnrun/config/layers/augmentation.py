"""Augmentation, active in training only: geometry (`randomflip`, `randomrotation`,
`randomzoom`, `randomtranslation`, `randomcrop`), colour and erasing (`randomcontrast`,
`randombrightness`, `randomcolorjitter`, `randomerasing`) and the policies of modern training
(`randaugment`, `augmix`), each told the [0, 1] range cnnrun's pixels have: RandAugment,
AugMix and the colour layers assume 0-255 by default, and on [0, 1] pixels RandAugment
flattens some images to constants. MixUp and CutMix mix labels too, so they are not layers:
`train.augment` (`cnnrun.config.augment`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool

from cnnrun.config.fields import Factor, FillMode, PositiveInt, number
from cnnrun.config.layers.base import Infer, LayerArgs, Loc, Shape, ShapeError, Step, kind
from cnnrun.errors import Problem

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
Fractions = Fraction | tuple[Fraction, Fraction]  # one strength, or a (low, high) range


@kind(
    "randomcontrast",
    keras="RandomContrast",
    shorthand="factor",
    **AUGMENTATION,
    example={"factor": 0.2},
)
class RandomContrast(LayerArgs):
    factor: Fractions = Field(
        description="the contrast factor is drawn from [1 - lower, 1 + upper]; one number is both"
    )
    value_range: tuple[number(), number()] = Field(
        (0.0, 1.0),
        description="the pixels' range, which outputs are clipped to: cnnrun's are [0, 1]",
    )


# ---- policies and colour: told the range cnnrun's pixels have ---------------------------

Range = tuple[number(), number()]
UNIT_RANGE = Field(
    (0.0, 1.0), description="the pixels' range: cnnrun's are [0, 1] (Keras's default is 0-255)"
)
Interpolation = Literal["nearest", "bilinear"]


class _NeedsRGB(LayerArgs):
    """Colour operations: saturation and hue need three channels."""

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        if shape[-1] != 3:
            raise ShapeError(
                Problem(
                    f"works on RGB images, and its input has {shape[-1]} channel(s)",
                    loc,
                    hint="set data.channels: 3, or move it before a layer that changes channels",
                )
            )
        return Step(shape)


RGB: dict[str, Any] = {**AUGMENTATION, "example_input": (8, 8, 3)}


@kind("randaugment", keras="RandAugment", **RGB, example={"num_ops": 2})
class RandAugment(_NeedsRGB):
    value_range: Range = UNIT_RANGE
    num_ops: PositiveInt = Field(2, description="operations applied to each image")
    factor: Fractions = Field(0.5, description="the operations' strength, 0 to 1")
    interpolation: Interpolation = "bilinear"


@kind("augmix", keras="AugMix", **RGB, example={"num_chains": 2})
class AugMix(_NeedsRGB):
    value_range: Range = UNIT_RANGE
    num_chains: PositiveInt = 3
    chain_depth: PositiveInt = 3
    factor: Fractions = 0.3
    alpha: number(gt=0) = 1.0
    all_ops: StrictBool = True
    interpolation: Interpolation = "bilinear"


@kind(
    "randomcolorjitter",
    keras="RandomColorJitter",
    **RGB,
    example={"brightness_factor": 0.2, "hue_factor": 0.1},
)
class RandomColorJitter(_NeedsRGB):
    value_range: Range = UNIT_RANGE
    brightness_factor: Fractions | None = None
    contrast_factor: Fractions | None = None
    saturation_factor: Fractions | None = None
    hue_factor: Fractions | None = None


@kind("randomerasing", keras="RandomErasing", **AUGMENTATION, example={"factor": 0.5})
class RandomErasing(LayerArgs):
    factor: Fractions = Field(1.0, description="the chance that an image gets a patch erased")
    scale: tuple[Fraction, Fraction] = Field(
        (0.02, 0.33), description="the patch's area, as a share of the image"
    )
    fill_value: number() | None = Field(None, description="the patch's value (default: noise)")
    value_range: Range = UNIT_RANGE


@kind(
    "randombrightness",
    keras="RandomBrightness",
    shorthand="factor",
    **AUGMENTATION,
    example={"factor": 0.2},
)
class RandomBrightness(LayerArgs):
    factor: number(ge=-1, le=1) | tuple[number(ge=-1, le=1), number(ge=-1, le=1)] = Field(
        description="a share of value_range added: one number n is [-n, n]"
    )
    value_range: Range = UNIT_RANGE


@kind(
    "randomcrop",
    keras="RandomCrop",
    image_only=True,
    example={"height": 6, "width": 6},
)
class RandomCrop(LayerArgs):
    height: PositiveInt
    width: PositiveInt

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        # a random crop in training; at inference, the centre (resized when smaller)
        return Step((self.height, self.width, shape[-1]))
