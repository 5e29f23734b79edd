"""Pretrained backbones: `application`, any `keras.applications` constructor as one layer.

The shape rule needs no TensorFlow: `backbone_table` holds, for every constructor, the
smallest input it takes, the rule of its output size, its channels, parameters and
multiply-adds per input pixel, and how its family's `preprocess_input` maps pixels (written
by scripts/make_backbones.py from Keras itself). The builder
(`cnnrun.engine.backbones`) puts that preprocessing inside the network, so whatever runs the
network later (predict, export, every runtime) gets it without being told.

Example:
    >>> from cnnrun.config.layers.base import LayerEntry
    >>> entry = LayerEntry.parse({"application": {"name": "MobileNetV3Small", "weights": "none"}})
    >>> step = entry.args.output((96, 96, 3), ("model", "layers", 0), None)
    >>> step.shape, step.trainable  # random weights: only the batchnorms' scales learn
    ((3, 3, 576), 12112)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from cnnrun.config.layers.backbone_table import BACKBONES
from cnnrun.config.layers.base import Infer, LayerArgs, Loc, Shape, ShapeError, Step, kind
from cnnrun.errors import Problem, suggest

# `weights` that are not a file: Keras's ImageNet weights, or random initial weights.
NAMED_WEIGHTS = ("imagenet", "none")


def preprocess_params(channels: int) -> int:
    """Weights of the fixed 1x1 convolution that maps cnnrun's [0, 1] pixels to what the
    family expects: a kernel from `channels` to 3, and a bias."""
    return channels * 3 + 3


def out_side(info: dict[str, Any], side: int) -> int:
    """The backbone's output height (or width) for an input height (or width)."""
    return (side + info["add"]) // info["div"]


@kind(
    "application",
    image_only=True,
    backbone=True,
    example={"name": "MobileNetV3Small", "weights": "none"},
    example_input=(32, 32, 3),
)
class Application(LayerArgs):
    name: str = Field(description="a keras.applications constructor, e.g. MobileNetV3Small")
    weights: str = Field(
        "imagenet",
        description="imagenet (Keras's download, or its cache ~/.keras/models), none (random), "
        "or a weights file: the backbone's own, or a cnnrun run's weights with this backbone",
    )
    trainable: StrictBool = Field(
        False, description="train the backbone's weights too (train.phases can change it)"
    )
    batchnorm: Literal["inference", "train"] | None = Field(
        None,
        description="inference: the backbone's batchnorms keep their statistics and scales "
        "while it trains (Keras's fine-tuning advice); train: they learn from each batch. "
        "Default: inference with pretrained weights, train with weights: none",
    )
    grey_to_rgb: StrictBool = Field(
        False, description="feed a grey input to the backbone's three channels"
    )

    @model_validator(mode="after")
    def _batchnorm_mode(self) -> Application:
        # random batchnorm statistics kept in inference mode would never become the
        # network's own: a backbone trained from scratch needs them to learn
        if self.batchnorm is None:
            self.batchnorm = "train" if self.weights == "none" else "inference"
        return self

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in BACKBONES:
            hint = suggest(value, BACKBONES) or "see docs/transfer.md for the list"
            raise ValueError(f"unknown keras.applications constructor {value!r} ({hint})")
        return value

    @property
    def info(self) -> dict[str, Any]:
        return BACKBONES[self.name]

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        info = self.info
        h, w, c = shape
        if c == 1 and not self.grey_to_rgb:
            raise ShapeError(
                Problem(
                    f"{self.name} takes RGB images, and its input has 1 channel",
                    loc,
                    hint="set data.channels: 3, or grey_to_rgb: true to repeat the grey channel",
                )
            )
        if c not in (1, 3):
            raise ShapeError(Problem(f"{self.name} takes 3 channels, got {c}", loc))
        low = info["min_side"]
        if min(h, w) < low:
            raise ShapeError(
                Problem(
                    f"{self.name} needs inputs of at least {low}x{low}, got {h}x{w}",
                    loc,
                    hint=f"set data.image_size to {low} or more",
                )
            )
        out = (out_side(info, h), out_side(info, w), info["channels"])
        params = info["params"] + preprocess_params(c)
        # a batchnorm's scale and offset train with its statistics, in `train` mode only
        affine = info["batchnorm_affine"]
        trainable = info["trainable"] - affine if self.trainable else 0
        if self.batchnorm == "train":
            trainable += affine
        macs = round(info["macs_per_pixel"] * h * w) + h * w * c * 3
        return Step(out, params, trainable, macs)
