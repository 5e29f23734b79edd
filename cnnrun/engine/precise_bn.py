"""Precise BatchNorm statistics: each batchnorm's population mean and variance, recomputed at
test-time conditions before every validation pass.

Moving averages lag while the weights still move (at Keras's momentum 0.99, 16% of the
initial statistics are left after 180 steps), and Dropout before a batchnorm shifts the
variance it sees in training (Li et al., 2019). With `train.batchnorm_stats: precise`,
before each validation every batchnorm's moving mean and variance are replaced by the exact
population statistics of its input over a fixed, seeded sample of the training images, with
the network in inference mode: dropout, noise and augmentation off. Batchnorms are updated
in order, each with the ones before it already recomputed ("precise BN", Wu and Johnson,
"Rethinking 'Batch' in BatchNorm", 2021). Training steps are unchanged; the weights files
hold the recomputed statistics, so validation, the best epoch, predict and resume all see
them.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization of a built functional model, blocks' included, in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def sample_images(x: Any, scale: float, batches: int, batch_size: int, seed: int) -> np.ndarray:
    """A fixed, seeded sample of `batches` batches of training images, scaled as in training.

    The same seed gives the same sample on every worker and after a resume.
    """
    n = len(x)
    size = min(n, batches * batch_size)
    index = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    images = x.read(index) if hasattr(x, "read") else np.asarray(x)[index]
    return images.astype(np.float32) * np.float32(scale)


def _sums_of(model: keras.Model, layer: keras.layers.BatchNormalization) -> Any:
    """A compiled function: sums and sums of squares (float64) of `layer`'s input, per
    channel, over one batch, the network in inference mode."""
    probe = keras.Model(model.inputs, layer.input)

    @tf.function(reduce_retracing=True)
    def sums(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        a = tf.cast(probe(x, training=False), tf.float64)
        a = tf.reshape(a, (-1, a.shape[-1]))
        return tf.reduce_sum(a, 0), tf.reduce_sum(a * a, 0), tf.cast(tf.shape(a)[0], tf.float64)

    return sums


def population_statistics(sums: Any, images: np.ndarray, batch: int) -> tuple[np.ndarray, ...]:
    """The exact mean and (biased, as batchnorm's own) variance over `images`."""
    total = squares = count = 0.0
    for start in range(0, len(images), batch):
        s, q, n = sums(tf.constant(images[start : start + batch]))
        total, squares, count = total + s.numpy(), squares + q.numpy(), count + float(n)
    mean = total / count
    return mean, np.maximum(squares / count - mean**2, 0.0)


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recompute batchnorm statistics at the start of every validation pass of `fit`.

    Args:
        images: the fixed sample of training images (`sample_images`).
        batch: images per forward pass.
    """

    def __init__(self, images: np.ndarray, batch: int) -> None:
        super().__init__()
        self.images, self.batch = images, batch
        self._probes: list[tuple[Any, Any]] | None = None

    def recompute(self) -> int:
        """Replace every batchnorm's moving statistics by its input's population statistics,
        in order (each one's input depends on those before it); returns how many."""
        if self._probes is None:
            self._probes = [(bn, _sums_of(self.model, bn)) for bn in batchnorm_layers(self.model)]
        for layer, sums in self._probes:
            mean, variance = population_statistics(sums, self.images, self.batch)
            layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
            layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
        return len(self._probes)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.recompute()
