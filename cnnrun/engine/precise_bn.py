"""Precise BatchNorm statistics: each batchnorm's population mean and variance, recomputed at
test-time conditions before every validation pass.

Moving averages lag while the weights still move (at Keras's momentum 0.99, 16% of the
initial statistics are left after 180 steps), and Dropout before a batchnorm shifts the
variance it sees in training (Li et al., 2019). With `train.batchnorm_stats: precise`,
before each validation every batchnorm's moving mean and variance are replaced by the exact
population statistics of its input over a fixed, seeded sample of the training images, with
dropout, noise and augmentation off. All of them come from one forward pass over the
sample, in which the batchnorms normalise with each batch's own statistics as in a training
step ("precise BN", Wu and Johnson, "Rethinking 'Batch' in BatchNorm", 2021, as pycls and
detectron2 compute it, here with dropout off): a network with many batchnorms pays one pass,
not one per batchnorm. Training steps are unchanged; the weights files hold the recomputed
statistics, so validation, the best epoch, predict and resume all see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun.config.layers import LayerEntry
from cnnrun.data.lazy import take
from cnnrun.engine.layers import Replay, apply_layers, learning_batchnorms
from cnnrun.runs.summary import RunSummary


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization of a built functional model, blocks' included, in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def precise_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The batchnorms precise statistics recompute: the network's own, and those of its
    backbones that learn from each batch (`batchnorm: train`); a backbone's batchnorms in
    inference mode keep their statistics."""
    inner = [b for layer in model.layers for b in learning_batchnorms(layer)]
    return batchnorm_layers(model) + inner


def sample_images(x: Any, scale: float, batches: int, batch_size: int, seed: int) -> np.ndarray:
    """A fixed, seeded sample of `batches` batches of training images, scaled as in training.

    The same seed gives the same sample on every worker and after a resume.
    """
    n = len(x)
    size = min(n, batches * batch_size)
    index = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    images = take(x, index)
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


def one_pass_sums(model: keras.Model, layers: Sequence[LayerEntry]) -> tuple[Any, list, list]:
    """A compiled function giving, for one batch, the sums and sums of squares (float64) of
    every batchnorm's input, per channel, in one forward pass.

    The pass replays the model (`cnnrun.engine.layers.Replay`): its own layers, dropout,
    noise and augmentation left out, and the batchnorms before each one normalising with the
    batch's own statistics, as in a training step. So the cost is one forward pass over the
    sample however many batchnorms the network has; a batchnorm's statistics are exact for its
    input at those conditions, and the first one's are its test-time input's exactly.

    Returns:
        The function, the model's batchnorm layers and their batch-statistics twins.
    """
    replay = Replay(model)
    inputs = keras.Input(model.input_shape[1:])
    apply_layers(layers, inputs, replay=replay)
    if not replay.batchnorms:
        return None, [], []
    tensors, bns, twins = zip(*replay.batchnorms, strict=True)
    probe = keras.Model(inputs, list(tensors))
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)

    @tf.function(input_signature=[spec])
    def sums(x: tf.Tensor) -> list[tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
        outs = probe(x, training=True)  # the twins normalise with the batch's statistics
        out = []
        for a in outs if isinstance(outs, list | tuple) else [outs]:
            a = tf.cast(a, tf.float64)
            a = tf.reshape(a, (-1, a.shape[-1]))
            n = tf.cast(tf.shape(a)[0], tf.float64)
            out.append((tf.reduce_sum(a, 0), tf.reduce_sum(a * a, 0), n))
        return out

    return sums, list(bns), list(twins)


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recompute batchnorm statistics at the start of every validation pass of `fit`.

    Args:
        images: the fixed sample of training images (`sample_images`).
        batch: images per forward pass.
        layers: the config's `model.layers` the model was built from.
    """

    def __init__(self, images: np.ndarray, batch: int, layers: Sequence[LayerEntry]) -> None:
        super().__init__()
        self.images, self.batch, self.layers = images, batch, layers
        self._pass: tuple[Any, list, list] | None = None

    def recompute(self) -> int:
        """Replace every batchnorm's moving statistics by its input's population statistics
        over the sample, all from one forward pass; returns how many."""
        if self._pass is None:
            self._pass = one_pass_sums(self.model, self.layers)
        sums, bns, twins = self._pass
        for bn, twin in zip(bns, twins, strict=True):  # the twins scale and shift as the model
            for mine, theirs in ((twin.gamma, bn.gamma), (twin.beta, bn.beta)):
                if mine is not None:
                    mine.assign(theirs)
        totals: list[list] = [[0.0, 0.0, 0.0] for _ in bns]
        for start in range(0, len(self.images), self.batch):
            batch = sums(tf.constant(self.images[start : start + self.batch]))
            for t, (s, q, n) in zip(totals, batch, strict=True):
                t[0], t[1], t[2] = t[0] + s.numpy(), t[1] + q.numpy(), t[2] + float(n)
        for bn, (total, squares, count) in zip(bns, totals, strict=True):
            mean = total / count
            variance = np.maximum(squares / count - mean**2, 0.0)
            bn.moving_mean.assign(mean.astype(bn.moving_mean.dtype))
            bn.moving_variance.assign(variance.astype(bn.moving_variance.dtype))
        return len(bns)

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
    if not precise_layers(model) or isinstance(
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
    callback = PreciseBatchNorm(images, t.batch_size, cfg.model.layers)
    callback.set_model(model)
    callback.recompute()
    precise = float(model.evaluate(val, verbose=0, return_dict=True)["loss"])
    return moving, precise


def precise_callbacks(prep: Any, summary: RunSummary) -> list[keras.callbacks.Callback]:
    """The precise-BatchNorm callback when the config asks for it and the model has one;
    `summary.batchnorm` records the mode, the layers and the sample's size.

    Args:
        prep: the prepared run (`cnnrun.engine.prepare.Prepared`).
    """
    cfg, splits = prep.plan.config, prep.splits
    count = len(precise_layers(prep.model))
    summary.batchnorm = {"stats": cfg.train.batchnorm_stats, "layers": count}
    if cfg.train.batchnorm_stats != "precise" or not count:
        return []
    t = cfg.train
    images = sample_images(
        splits.x_train, splits.scale, t.batchnorm_batches, t.batch_size, cfg.seed
    )
    summary.batchnorm["sample_images"] = len(images)
    return [PreciseBatchNorm(images, t.batch_size, cfg.model.layers)]
