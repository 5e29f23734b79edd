"""`train.lr_schedule`: the learning-rate schedules, one section each, told apart by `name`.

Example:
    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(LRSchedule).validate_python({"name": "cosine", "warmup_epochs": 2})
    Cosine(name='cosine', warmup_epochs=2, min_lr=0.0)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag

from cnnrun.config.fields import NonNegFloat, NonNegInt, PositiveInt, Section, number


class ReduceOnPlateau(Section):
    """Multiply the learning rate by `factor` when the monitored value stops improving."""

    name: Literal["reduce_on_plateau"] = "reduce_on_plateau"
    factor: number(gt=0, lt=1) = 0.5
    patience: NonNegInt = 2
    min_lr: NonNegFloat = 0.0


class Cosine(Section):
    """A linear warm-up from 0 over `warmup_epochs`, then a cosine decay to `min_lr` at the
    last epoch, updated every step (Loshchilov and Hutter, SGDR, 2017)."""

    name: Literal["cosine"]
    warmup_epochs: NonNegInt = 0
    min_lr: NonNegFloat = 0.0


class Exponential(Section):
    """The learning rate times `decay_rate` per epoch, updated every step."""

    name: Literal["exponential"]
    decay_rate: number(gt=0, lt=1) = 0.9


class StepDecay(Section):
    """The learning rate times `factor` every `step_epochs` epochs."""

    name: Literal["step"]
    step_epochs: PositiveInt = 10
    factor: number(gt=0, lt=1) = 0.1


def _schedule_name(value: Any) -> str | None:
    # `name` may be left out for reduce_on_plateau, as before the other kinds existed
    if isinstance(value, dict):
        name = value.get("name", "reduce_on_plateau")
    else:
        name = getattr(value, "name", None)
    return name if name in SCHEDULES else None


SCHEDULES = {"reduce_on_plateau", "cosine", "exponential", "step"}
LRSchedule = Annotated[
    Annotated[ReduceOnPlateau, Tag("reduce_on_plateau")]
    | Annotated[Cosine, Tag("cosine")]
    | Annotated[Exponential, Tag("exponential")]
    | Annotated[StepDecay, Tag("step")],
    Discriminator(
        _schedule_name,
        custom_error_type="unknown_schedule",
        custom_error_message="expected name: reduce_on_plateau, cosine, exponential or step",
    ),
]
