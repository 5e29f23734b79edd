"""`train.phases`: fine-tuning in phases, one run through all of them.

Each phase trains some epochs with some of the backbones open and its own learning rate;
between phases the network is compiled again with a fresh optimizer, as Keras's transfer
learning guide does. `train.epochs` is the total: the phases' sum when not given, and a cap
when given (`--set train.epochs=1` runs one epoch of the first phase).

Example:
    >>> p = Phase.model_validate({"epochs": 10, "trainable": "last 30", "learning_rate": 1e-5})
    >>> p.open_layers, p.trainable
    (30, 'last 30')
    >>> [s.range for s in schedule([Phase(epochs=2), Phase(epochs=3, trainable="all")], 4)]
    [(0, 2), (2, 4)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import Field, field_validator

from cnnrun.config.fields import PositiveInt, Section, number

LAST = re.compile(r"last (\d+)$")
T = TypeVar("T", bound=Any)


class Phase(Section):
    """One phase: how long, which backbone layers train, at what learning rate."""

    epochs: PositiveInt
    trainable: str = Field(
        "head",
        description="head: every backbone frozen; all: everything trains; last N: each "
        "backbone's last N layers train too",
    )
    learning_rate: number(gt=0) | None = Field(
        None, description="this phase's learning rate (default: train.optimizer.learning_rate)"
    )

    @field_validator("trainable")
    @classmethod
    def _trainable(cls, value: str) -> str:
        value = value.strip()
        if value in ("head", "all") or LAST.match(value):
            return value
        raise ValueError(f"expected head, all or last N (a number of layers), got {value!r}")

    @property
    def open_layers(self) -> int | None:
        """For `last N`, N; None for head and all."""
        m = LAST.match(self.trainable)
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Span:
    """A phase placed in the run: its index, its epochs [start, end) 0-based, its settings."""

    index: int
    start: int
    end: int
    phase: Phase

    @property
    def range(self) -> tuple[int, int]:
        return self.start, self.end


def settle(train: T) -> T:
    """`train.epochs` from the phases (their total when not given, a cap when given), and
    the settings that cannot go with phases refused.

    Raises:
        ValueError: more epochs than the phases have, or a per-step learning-rate schedule.
    """
    if not train.phases:
        return train
    total = sum(p.epochs for p in train.phases)
    if "epochs" not in train.model_fields_set:
        train.epochs = total
    elif train.epochs > total:
        raise ValueError(
            f"train.epochs ({train.epochs}) is more than the phases' {total} epochs; leave "
            "it out (the phases decide) or make it a cap"
        )
    schedule_name = getattr(train.lr_schedule, "name", None)
    if schedule_name not in (None, "reduce_on_plateau"):
        raise ValueError(
            f"lr_schedule {schedule_name} runs over the whole run and cannot be combined with "
            "train.phases; give each phase its learning_rate"
        )
    return train


def schedule(phases: list[Phase], total: int) -> list[Span]:
    """The phases laid end to end, cut at `total` epochs (`train.epochs`)."""
    out, start = [], 0
    for i, phase in enumerate(phases):
        end = min(start + phase.epochs, total)
        if end > start:
            out.append(Span(i, start, end, phase))
        start += phase.epochs
    return out


def span_at(spans: list[Span], epoch: int) -> Span | None:
    """The phase that trains epoch `epoch` (0-based), or None after the last."""
    return next((s for s in spans if s.start <= epoch < s.end), None)
