"""Scoring the test split once with the best weights: loss, metrics, confusion matrix, and
what the network got wrong and how sure it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun.analysis.answers import record
from cnnrun.analysis.curves import draw_confusion
from cnnrun.engine.model import make_loss
from cnnrun.engine.pipeline import one_pass
from cnnrun.engine.predict import to_probabilities
from cnnrun.runs import names
from cnnrun.runs.summary import RunSummary


def _predict_local(model: keras.Model, loss_fn: Any, test_ds: tf.data.Dataset) -> tuple:
    # Keras's evaluate/predict fail under MultiWorkerMirroredStrategy as fit does; every
    # worker holds the whole model, so score locally.
    parts = [(model(xb, training=False), yb) for xb, yb in test_ds]
    out = np.concatenate([keras.ops.convert_to_numpy(p) for p, _ in parts])
    losses = np.concatenate([keras.ops.convert_to_numpy(loss_fn.call(y, p)) for p, y in parts])
    return {"loss": float(losses.mean())}, out


def scorer(
    model: keras.Model, loss_fn: Any, correct: Callable[..., Any] | None = None
) -> Callable[[tf.data.Dataset], tuple[dict[str, float], np.ndarray]]:
    """A function scoring a dataset in one compiled pass, traced once however often it is
    called: the outputs, the loss and, given `correct` (per-sample hits,
    `cnnrun.engine.distribute.correct_fn`), the accuracy.

    One pass where Keras's `evaluate` and `predict` take two (each traced, each reading the
    data again: a photo folder's test split decoded twice). The loss is Keras's `evaluate`
    loss: the mean over the samples of the loss, plus the regularization losses.
    """

    @tf.function(autograph=False, reduce_retracing=True)
    def step(xb: Any, yb: Any) -> tuple:
        out = model(xb, training=False)
        pred = tf.cast(out, "float32")
        hits = correct(yb, pred) if correct is not None else tf.zeros([0])
        return out, loss_fn.call(yb, pred), hits

    def score(ds: tf.data.Dataset) -> tuple[dict[str, float], np.ndarray]:
        outs, losses, hits = [], [], []
        for xb, yb in ds:
            out, loss, hit = step(xb, yb)
            outs.append(out.numpy())
            losses.append(loss.numpy())
            hits.append(hit.numpy())
        regularization = sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses)
        mean = float(np.mean(np.concatenate(losses), dtype=np.float64))
        scores = {"loss": mean + regularization}
        if correct is not None:
            scores["accuracy"] = float(np.mean(np.concatenate(hits), dtype=np.float64))
        return scores, np.concatenate(outs)

    return score


def one_pass_scores(model: keras.Model, loss_fn: Any, ds: tf.data.Dataset) -> tuple:
    """The loss and the outputs of `ds` in one compiled pass (`scorer`)."""
    return scorer(model, loss_fn)(ds)


def score_test(
    prep: Any, run_dir: Path, summary: RunSummary, best_outputs: np.ndarray | None = None
) -> None:
    """Score the test split with the run's best weights, into `summary`: loss, metrics,
    per-class scores, calibration and the worst errors (`cnnrun.analysis.answers`). Without a
    test split, the validation split's answers are read the same way, with no test scores:
    from `best_outputs`, the best epoch's validation outputs, when the run kept them."""
    cfg, splits, model = prep.plan.config, prep.splits, prep.model
    test = splits.y_test is not None
    x, y = (splits.x_test, splits.y_test) if test else (splits.x_val, splits.y_val)
    if not len(y):
        return
    if not test and best_outputs is not None:
        probs = to_probabilities(best_outputs, cfg)
        record(run_dir, summary, x, y, probs, splits.class_names, "validation set")
        return
    keras.saving.load_weights(model, run_dir / names.BEST, objects_to_skip=[model.optimizer])
    ds = one_pass(cfg, splits, x, y)
    if isinstance(prep.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        scores, out = _predict_local(model, make_loss(cfg), ds)
    elif prep.strategy is None:  # one device; `mirrored` keeps Keras's own passes
        scores, out = one_pass_scores(model, make_loss(cfg), ds)
        scores = scores if test else {}
    else:
        scores = model.evaluate(ds, verbose=0, return_dict=True) if test else {}
        out = model.predict(ds.map(lambda xb, _: xb), verbose=0)
    where = "test set" if test else "validation set"
    probs = to_probabilities(out, cfg)
    table = record(run_dir, summary, x, y, probs, splits.class_names, where)
    if not test:
        return
    summary.test = {f"test_{k}": float(v) for k, v in scores.items()}
    summary.test_scores = table
    if "accuracy" in cfg.train.metrics and "test_accuracy" not in summary.test:
        summary.test["test_accuracy"] = float(table["accuracy"])
    draw_confusion(
        table, run_dir / names.CURVES / "confusion_matrix.png", title=f"{summary.name}, test set"
    )
