"""Scoring the test split once with the best weights: loss, metrics, confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun.engine.model import from_logits, make_loss
from cnnrun.engine.pipeline import one_pass
from cnnrun.runs import folder as runs
from cnnrun.runs.curves import draw_confusion
from cnnrun.runs.scores import classification_scores
from cnnrun.runs.summary import RunSummary


def _predict_local(model: keras.Model, loss_fn: Any, test_ds: tf.data.Dataset) -> tuple:
    # Keras's evaluate/predict fail under MultiWorkerMirroredStrategy as fit does; every
    # worker holds the whole model, so score locally.
    parts = [(model(xb, training=False), yb) for xb, yb in test_ds]
    out = np.concatenate([keras.ops.convert_to_numpy(p) for p, _ in parts])
    losses = np.concatenate([keras.ops.convert_to_numpy(loss_fn.call(y, p)) for p, y in parts])
    return {"loss": float(losses.mean())}, out


def score_test(prep: Any, run_dir: Path, summary: RunSummary) -> None:
    """Score the test split (if any) with the run's best weights, into `summary`."""
    cfg, splits, model = prep.plan.config, prep.splits, prep.model
    if splits.y_test is None:
        return
    keras.saving.load_weights(model, run_dir / runs.BEST, objects_to_skip=[model.optimizer])
    test_ds = one_pass(cfg, splits, splits.x_test, splits.y_test)
    if isinstance(prep.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        scores, out = _predict_local(model, make_loss(cfg), test_ds)
    else:
        scores = model.evaluate(test_ds, verbose=0, return_dict=True)
        out = model.predict(test_ds.map(lambda xb, _: xb), verbose=0)
    summary.test = {f"test_{k}": float(v) for k, v in scores.items()}
    if out.shape[-1] == 1:  # one sigmoid unit (or logit)
        predicted = (out[:, 0] > (0.0 if from_logits(cfg) else 0.5)).astype(int)
    else:
        predicted = out.argmax(axis=1)
    table = classification_scores(splits.y_test, predicted, splits.class_names)
    summary.test_scores = table
    if "accuracy" in cfg.train.metrics and "test_accuracy" not in summary.test:
        summary.test["test_accuracy"] = float(table["accuracy"])
    draw_confusion(
        table, run_dir / runs.CURVES / "confusion_matrix.png", title=f"{summary.name}, test set"
    )
