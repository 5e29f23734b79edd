"""The dense layer and activations: `dense`, `activation`."""

from __future__ import annotations

from pydantic import Field, StrictBool

from cnnrun.config.fields import Activation, NonNegFloat, PositiveInt
from cnnrun.config.layers.base import Infer, LayerArgs, Loc, Shape, ShapeError, Step, kind
from cnnrun.errors import Problem


@kind(
    "dense",
    keras="Dense",
    weighted=True,
    activation_arg=True,
    example={"units": 7, "use_bias": False},
    example_input=(8, 8, 1),
)
class Dense(LayerArgs):
    units: PositiveInt
    activation: Activation = "relu"
    use_bias: StrictBool = True
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on the kernel")

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        if len(shape) != 1:
            raise ShapeError(
                Problem(
                    f"dense on an image-shaped input {shape} would act on the last axis only",
                    loc,
                    hint="add flatten or globalavgpool2d before it",
                )
            )
        params = shape[0] * self.units + (self.units if self.use_bias else 0)
        return Step((self.units,), params, params, shape[0] * self.units)


@kind(
    "activation",
    keras="Activation",
    shorthand="activation",
    activation_arg=True,
    example={"activation": "gelu"},
)
class ActivationLayer(LayerArgs):
    activation: Activation
