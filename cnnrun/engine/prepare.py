"""Everything before a run folder exists: the data loaded, split and cached, the precision
chosen, the model built. What can fail because of the user's config or data fails here, so a
bad input never leaves a half-made run folder behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from cnnrun.data.splits import Splits
from cnnrun.engine import distribute
from cnnrun.engine.cache import memory_cache
from cnnrun.engine.model import build_model
from cnnrun.engine.pipeline import load_splits, steps
from cnnrun.engine.precision import resolve as resolve_precision
from cnnrun.engine.predict import check_weights_match
from cnnrun.engine.pretrained import load_pretrained
from cnnrun.plan import Plan


@dataclass
class Prepared:
    """A plan with its data loaded and its model built: ready to run."""

    plan: Plan
    splits: Splits
    model: keras.Model
    strategy: Any = None  # a tf.distribute strategy, or None for one device
    precision: dict[str, str] | None = None  # requested, policy, reason


def prepare(
    plan: Plan,
    precision: str | None = None,
    init_weights: Path | None = None,
    cache_dir: Path | None = None,
    pretrained: bool = True,
) -> Prepared:
    """Load and split the data and build the model; raises `UserError` on bad data.

    Args:
        plan: the checked experiment.
        precision: the dtype policy to keep (a resumed run's); by default `train.precision`,
            with `auto` resolved on this machine.
        init_weights: a weights file of the same network to start from (fine-tuning).
        cache_dir: where `data.cache: disk` keeps decoded images (unless `data.cache_path`).
        pretrained: fill each backbone with the weights its config names; a resumed run
            loads them all from its own weights file instead.
    """
    cfg = plan.config
    strategy = distribute.make_strategy(cfg.distribute)  # before any other TensorFlow work
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    splits = load_splits(cfg, plan.loaded.base_dir, plan.dataset)
    if cfg.data.cache_path:
        cache_dir = plan.loaded.base_dir / cfg.data.cache_path
    splits = splits.cached(cfg.data.cache, cache_dir, memory_cache)
    if precision is None:
        policy, reason = resolve_precision(cfg.train.precision, cfg.distribute)
    else:
        policy, reason = precision, "kept from the run being resumed"
    chosen = {"requested": cfg.train.precision, "policy": policy, "reason": reason}
    per_epoch = steps(len(splits.y_train), cfg.train.batch_size)
    with distribute.scope(strategy):
        model = build_model(cfg, steps_per_epoch=per_epoch, precision=policy)
        # fit would build the optimizer at its first step; its slots are in last.weights.h5
        model.optimizer.build(model.trainable_variables)
        if pretrained and init_weights is None:
            load_pretrained(model, cfg)
        if init_weights is not None:
            check_weights_match(model, init_weights)
            keras.saving.load_weights(model, init_weights, objects_to_skip=[model.optimizer])
    return Prepared(plan, splits, model, strategy, chosen)


def release() -> None:
    """Free the last run's models and Keras state, so one process can train run after run."""
    # Without Keras's forced collection, which its docs advise against in a short loop:
    # Python's own collector frees the old models' cycles as it always does.
    keras.backend.clear_session(free_memory=False)
