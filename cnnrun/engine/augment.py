"""`train.augment` in the training pipeline: MixUp and CutMix on each batch of images and
one-hot labels, after batching, so the training loss sees the mixed labels; validation and
test batches keep their true ones.

Keras's layers draw their mixing from their own seed generators, which a resumed run does
not restore: a resumed run mixes other pairs than the uninterrupted one would (everything
else about it stays exact).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from cnnrun.config.schema import Config

Batch = tuple[tf.Tensor, ...]


def fit_loss(config: Config) -> str:
    """The loss training computes: a mixing run trains on soft labels, which the sparse
    (integer-label) cross-entropy cannot take, so it uses the categorical one on one-hot
    labels, validation and test included (their labels stay hard)."""
    t = config.train
    if t.augment is not None and t.augment.mixes and t.loss == "sparse_categorical_crossentropy":
        return "categorical_crossentropy"
    return t.loss


def mixer(config: Config) -> Callable[..., Batch] | None:
    """The function the training pipeline maps over its batches, or None when nothing mixes."""
    a = config.train.augment
    if a is None or not a.mixes:
        return None
    layers = []
    if a.mixup is not None:
        layers.append(keras.layers.MixUp(alpha=a.mixup.alpha, seed=config.seed))
    if a.cutmix is not None:
        layers.append(keras.layers.CutMix(factor=a.cutmix.factor, seed=config.seed + 1))

    def mix_with(layer: Any, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        out = layer({"images": x, "labels": tf.cast(y, tf.float32)}, training=True)
        return tf.cast(out["images"], x.dtype), out["labels"]

    def mix(x: tf.Tensor, y: tf.Tensor, *weights: tf.Tensor) -> Batch:
        if len(layers) == 1:
            x, y = mix_with(layers[0], x, y)
        else:  # each batch one of the two
            first = tf.random.uniform([], seed=config.seed) < 0.5
            x, y = tf.cond(
                first, lambda: mix_with(layers[0], x, y), lambda: mix_with(layers[1], x, y)
            )
        return (x, y, *weights)

    return mix
