"""Training on several devices or machines with TensorFlow's own `tf.distribute` strategies.

`mirrored` keeps Keras's `fit` (it works under `MirroredStrategy`). `multi_worker` trains
with a custom loop whose step runs through `strategy.run` inside a `tf.function`, as
TensorFlow documents for `MultiWorkerMirroredStrategy`: Keras 3's `fit` fails under that
strategy (keras-team/keras#20585: "Attempt to convert a value (PerReplica...)", then
"Invalid reduction dimension 0" in `reduce_per_replica`). The loop drives the same callbacks
as `fit` (history, best and last weights, early stopping), so a run folder looks the same.

Example (two workers on one machine, each its own process):

    cnnrun train cfg.yaml --workers 127.0.0.1:12345,127.0.0.1:12346 --worker-index 0
    cnnrun train cfg.yaml --workers 127.0.0.1:12345,127.0.0.1:12346 --worker-index 1
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import keras
import tensorflow as tf

from cnnrun.engine.augment import fit_loss

# A collective that waits longer than this means a worker is gone: fail with a message
# instead of hanging forever.
COLLECTIVE_TIMEOUT_S = 120
# Split this machine's CPU into N logical devices, so `mirrored` can be tried without GPUs
# (docs/distribution.md). Must act before TensorFlow initialises its devices.
LOGICAL_CPUS_ENV = "CNNRUN_LOGICAL_CPUS"


def _split_cpu() -> None:
    n = int(os.environ.get(LOGICAL_CPUS_ENV) or 0)
    if n > 1:
        (cpu,) = tf.config.list_physical_devices("CPU")[:1]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )


def make_strategy(kind: str) -> tf.distribute.Strategy | None:
    """The strategy for `distribute:`; call it before any other TensorFlow work."""
    if kind == "none":
        return None
    if kind == "mirrored":
        _split_cpu()
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_S)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


@contextlib.contextmanager
def scope(strategy: tf.distribute.Strategy | None) -> Iterator[None]:
    """The strategy's scope, or nothing for one device."""
    if strategy is None:
        yield
    else:
        with strategy.scope():
            yield


class WorkerLost(RuntimeError):
    """A collective with the other workers failed: one of them stopped or is unreachable."""


def fit(
    prep: Any,
    train_ds: tf.data.Dataset,
    train_steps: int,
    first: int,
    callbacks: list[keras.callbacks.Callback],
    end: int | None = None,
    validation: keras.callbacks.Callback | None = None,
) -> None:
    """Train `prep.model` from epoch `first` to `end` (default: `train.epochs`): Keras's
    `fit`, or the multi-worker loop. `validation` (`cnnrun.engine.validation`), when given,
    validates in place of Keras's `evaluate`."""
    from cnnrun.engine.pipeline import one_pass

    cfg, splits, model = prep.plan.config, prep.splits, prep.model
    val_ds = None if validation is not None else one_pass(cfg, splits, splits.x_val, splits.y_val)
    if not isinstance(prep.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        model.fit(
            train_ds,
            epochs=end or cfg.train.epochs,
            initial_epoch=first,
            steps_per_epoch=train_steps,
            validation_data=val_ds,
            shuffle=False,
            verbose=0,
            callbacks=callbacks if validation is None else [validation, *callbacks],
        )
        return
    from cnnrun.engine.model import from_logits, make_loss

    correct = correct_fn(fit_loss(cfg), from_logits(cfg))
    try:
        fit_custom(
            prep.strategy,
            model,
            make_loss(cfg),
            correct,
            train_ds,
            val_ds,
            train_steps,
            first,
            end or cfg.train.epochs,
            callbacks,
        )
    except tf.errors.OpError as e:
        raise WorkerLost(
            f"lost contact with another worker ({type(e).__name__} in a collective); every "
            "worker must be running and able to reach the others"
        ) from None


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes the run folder: always, except the non-chief workers."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    kind, index = resolver.task_type, resolver.task_id
    return kind in (None, "chief") or (kind == "worker" and index == 0)


def worker_label(strategy: tf.distribute.Strategy | None) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    return f"{resolver.task_type} {resolver.task_id}" if resolver else "worker"


def correct_fn(loss: str, logits: bool) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Per-sample 1.0/0.0 for a right/wrong prediction, for the label form of each loss."""

    def fn(y: tf.Tensor, p: tf.Tensor) -> tf.Tensor:
        if loss == "binary_crossentropy":
            guess = tf.cast(p > (0.0 if logits else 0.5), tf.float32)
            return tf.cast(tf.equal(guess, tf.cast(y, tf.float32)), tf.float32)[:, 0]
        truth = tf.argmax(y, axis=-1) if loss == "categorical_crossentropy" else y
        return tf.cast(tf.equal(tf.argmax(p, -1), tf.cast(truth, tf.int64)), tf.float32)

    return fn


def _train_step(
    strategy: tf.distribute.Strategy,
    model: keras.Model,
    loss_fn: keras.losses.Loss,
    correct: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
) -> Callable[[Any], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """One distributed training step: per-replica gradients, the sums of loss and hits."""
    optimizer = model.optimizer

    @tf.function
    def train_step(iterator: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        def step(
            x: tf.Tensor, y: tf.Tensor, w: tf.Tensor | None = None
        ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                p = model(x, training=True)
                per_sample = loss_fn.call(y, p)
                if w is not None:  # train.class_weight
                    per_sample = per_sample * w
                loss = tf.nn.compute_average_loss(per_sample)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            n = tf.cast(tf.shape(per_sample)[0], tf.float32)
            return tf.reduce_sum(per_sample), tf.reduce_sum(correct(y, p)), n

        sums = strategy.run(step, args=next(iterator))
        return tuple(strategy.reduce(tf.distribute.ReduceOp.SUM, s, axis=None) for s in sums)

    return train_step


def fit_custom(
    strategy: tf.distribute.Strategy,
    model: keras.Model,
    loss_fn: keras.losses.Loss,
    correct: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    train_steps: int,
    first_epoch: int,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
) -> None:
    """`fit` for multi-worker training: `strategy.run` steps, the same callbacks.

    Every worker sees a shard of each global batch (tf.data's auto-shard policy); gradients
    are summed across replicas by the Keras optimizer, the loss averaged over the global
    batch. Validation runs whole on every worker with the same weights, so all workers agree
    on the best epoch, and only the chief's files are kept.
    """
    dist_train = iter(strategy.experimental_distribute_dataset(train_ds))
    train_step = _train_step(strategy, model, loss_fn, correct)

    @tf.function
    def val_step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        p = model(x, training=False)
        n = tf.cast(tf.shape(p)[0], tf.float32)
        return tf.reduce_sum(loss_fn.call(y, p)), tf.reduce_sum(correct(y, p)), n

    cbs = keras.callbacks.CallbackList(callbacks, model=model)
    model.stop_training = False
    cbs.on_train_begin()
    for epoch in range(first_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        total = right = seen = 0.0
        for b in range(train_steps):
            loss_sum, correct_sum, n = (float(t) for t in train_step(dist_train))
            total, right, seen = total + loss_sum, right + correct_sum, seen + n
            cbs.on_train_batch_end(b, {"loss": total / max(seen, 1.0)})
            if model.stop_training:
                break
        cbs.on_test_begin()  # precise batchnorm statistics are recomputed here, as in fit
        v_total = v_right = v_seen = 0.0
        for x, y in val_ds:
            loss_sum, correct_sum, n = (float(t) for t in val_step(x, y))
            v_total, v_right, v_seen = v_total + loss_sum, v_right + correct_sum, v_seen + n
        logs = {
            "loss": total / max(seen, 1.0),
            "accuracy": right / max(seen, 1.0),
            "val_loss": v_total / max(v_seen, 1.0) if v_seen else math.nan,
            "val_accuracy": v_right / max(v_seen, 1.0) if v_seen else math.nan,
        }
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end()
