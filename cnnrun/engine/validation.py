"""Validation at each epoch's end on one device, with the outputs kept.

Keras's `fit` validates through `evaluate`, which gives the numbers alone; the end of a run
without a test split then needs the best epoch's answers on the validation split
(`cnnrun.engine.evaluate.score_test`), and used to load the best weights and run that very
pass again. `Validation` is the first callback `fit` calls at an epoch's end: it validates
in one compiled pass (`evaluate.scorer`), adds `val_loss` and `val_<metric>` to the epoch's
logs, which Keras hands on to every later callback (the recorder, early stopping, the LR
schedule, TensorBoard), and keeps the outputs of the best epoch so far.

Callbacks that act around a validation pass get `on_test_begin` and `on_test_end` as they do
from `evaluate` (precise batchnorm statistics are recomputed in `on_test_begin`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun.engine.augment import fit_loss
from cnnrun.engine.distribute import correct_fn
from cnnrun.engine.evaluate import scorer
from cnnrun.engine.model import from_logits, make_loss
from cnnrun.engine.pipeline import one_pass
from cnnrun.runs.summary import RunSummary


class Validation(keras.callbacks.Callback):
    """Validate at every epoch's end; keep the best epoch's outputs.

    Args:
        dataset: one ordered pass over the validation split.
        score: `evaluate.scorer(...)`: the scores (`loss`, and `accuracy` when asked for)
            and the outputs of a dataset.
        listeners: the other callbacks of `fit`, told when a validation pass begins and ends.
        summary: the run's summary, whose `best_epoch` the recorder keeps up to date.
    """

    def __init__(
        self,
        dataset: tf.data.Dataset,
        score: Callable[[tf.data.Dataset], tuple[dict[str, float], np.ndarray]],
        listeners: Sequence[keras.callbacks.Callback],
        summary: RunSummary,
    ) -> None:
        super().__init__()
        self.dataset, self.score, self.summary = dataset, score, summary
        self.listeners = list(listeners)
        self._kept: dict[int, np.ndarray] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for callback in self.listeners:
            callback.on_test_begin()
        scores, outputs = self.score(self.dataset)
        for callback in self.listeners:
            callback.on_test_end(dict(scores))
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in scores.items()})
        # the recorder has judged every earlier epoch: only the best of them can still count
        best = self.summary.best_epoch
        self._kept = {e: o for e, o in self._kept.items() if e == best}
        self._kept[epoch + 1] = outputs

    def best_outputs(self) -> np.ndarray | None:
        """The validation outputs of the run's best epoch, if this process validated it."""
        return self._kept.get(self.summary.best_epoch or 0)


def validation(
    prep: Any, summary: RunSummary, listeners: Sequence[keras.callbacks.Callback]
) -> Validation | None:
    """The run's `Validation`, or None where Keras's own (a distribution strategy) or the
    multi-worker loop's validates instead."""
    if prep.strategy is not None:
        return None
    cfg, splits = prep.plan.config, prep.splits
    accuracy = "accuracy" in cfg.train.metrics
    correct = correct_fn(fit_loss(cfg), from_logits(cfg)) if accuracy else None
    score = scorer(prep.model, make_loss(cfg), correct)
    dataset = one_pass(cfg, splits, splits.x_val, splits.y_val)
    return Validation(dataset, score, listeners, summary)
