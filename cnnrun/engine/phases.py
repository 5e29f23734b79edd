"""`train.phases` in the engine: before a phase, open or close each backbone as the phase
says and compile again with a fresh optimizer at the phase's learning rate.

A run without phases is one implicit phase that changes nothing: the network is trained as
`prepare` compiled it.
"""

from __future__ import annotations

from typing import Any

from cnnrun.config.phases import Span, schedule, span_at
from cnnrun.config.schema import Config
from cnnrun.engine.backbones import backbones, set_trainable
from cnnrun.engine.model import compile_model


def spans(config: Config) -> list[Span]:
    """The run's phases, laid end to end over `train.epochs`; [] when it has none."""
    t = config.train
    return schedule(t.phases, t.epochs) if t.phases else []


def at(config: Config, epoch: int) -> Span | None:
    """The phase that trains epoch `epoch` (0-based); None without phases or after them."""
    return span_at(spans(config), epoch)


def enter(prep: Any, span: Span, steps_per_epoch: int) -> None:
    """Set the backbones as `span`'s phase asks and compile the network again."""
    cfg, model = prep.plan.config, prep.model
    phase = span.phase
    for _, name, a in backbones(cfg):
        last = phase.open_layers or 0
        trainable = phase.trainable == "all" or last > 0
        set_trainable(model.get_layer(name), trainable, a.batchnorm, last)
    rate = phase.learning_rate or cfg.train.optimizer.learning_rate
    policy = (prep.precision or {}).get("policy", "float32")
    compile_model(model, cfg, steps_per_epoch, policy, rate)
    model.optimizer.build(model.trainable_variables)


def records(config: Config) -> list[dict[str, Any]]:
    """The phases as `summary.json` keeps them: 1-based first epoch, epochs, settings."""
    return [
        {
            "phase": s.index + 1,
            "first_epoch": s.start + 1,
            "epochs": s.end - s.start,
            "trainable": s.phase.trainable,
            "learning_rate": s.phase.learning_rate or config.train.optimizer.learning_rate,
        }
        for s in spans(config)
    ]
