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


def sums_of(model: keras.Model, layer: keras.layers.Layer, training: bool = False) -> Any:
    """A compiled function: sums and sums of squares (float64) of `layer`'s input, per
    channel, over one batch, the network in inference mode (or in training mode: dropout on,
    batchnorms on batch statistics, which then also update their moving ones)."""
    probe = keras.Model(model.inputs, layer.input)
    # one trace for every batch size: a network with many batchnorms would otherwise trace
    # each probe again for the last, smaller batch, and TensorFlow warns about retracing
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)

    @tf.function(input_signature=[spec])
    def sums(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        a = tf.cast(probe(x, training=training), tf.float64)
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
            self._probes = [(bn, sums_of(self.model, bn)) for bn in batchnorm_layers(self.model)]
        for layer, sums in self._probes:
            mean, variance = population_statistics(sums, self.images, self.batch)
            layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
            layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
        return len(self._probes)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.recompute()


def moving_against_precise(prep: Any, best: Any) -> tuple[float, float] | None:
    """The best weights' validation loss with their moving averages, then recomputed.

    For runs with `moving` statistics, at the end: what the curves would have shown with
    precise statistics, at the best epoch. None when there is no batchnorm, or under
    multi-worker training (Keras's evaluate fails there).
    """
    from cnnrun.engine.pipeline import one_pass

    cfg, splits, model = prep.plan.config, prep.splits, prep.model
    if not batchnorm_layers(model) or isinstance(
        prep.strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
        return None
    keras.saving.load_weights(model, best, objects_to_skip=[model.optimizer])
    val = one_pass(cfg, splits, splits.x_val, splits.y_val)
    moving = float(model.evaluate(val, verbose=0, return_dict=True)["loss"])
    t = cfg.train
    images = sample_images(
        splits.x_train, splits.scale, t.batchnorm_batches, t.batch_size, cfg.seed
    )
    callback = PreciseBatchNorm(images, t.batch_size)
    callback.set_model(model)
    callback.recompute()
    precise = float(model.evaluate(val, verbose=0, return_dict=True)["loss"])
    return moving, precise
