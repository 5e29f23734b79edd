"""Data for training: the `keras` source's loader and `tf.data` input pipelines.

Pipelines shuffle and batch *indices* and gather whole batches from one in-memory tensor, so
an epoch costs one vectorised gather per batch rather than one slice per sample; HDF5 images
are read a batch at a time instead. The training pipeline holds every epoch `fit` will run,
one after another, and is fed to `fit` with `steps_per_epoch`: re-creating an input iterator
at every epoch start stalled plain `fit` at every epoch start on this project's CPU machines.
It is finite, not `repeat()`ed, for the reason `one_pass` gives: the iterator `fit` drops at
its end is then exhausted.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from cnnrun.config.schema import Config, DataConfig
from cnnrun.data.dataset import Dataset
from cnnrun.data.images import ImageFiles
from cnnrun.data.lazy import LazyImages, base_of, rows_of
from cnnrun.data.sources import KERAS_SETS, load_dataset, select_classes
from cnnrun.data.splits import Splits, split_dataset
from cnnrun.engine.augment import fit_loss
from cnnrun.engine.cache import TensorFlowCache
from cnnrun.engine.decode import decoded_splits, row_decoder
from cnnrun.errors import Problem, UserError

DOWNLOAD_TIMEOUT_S = 15


def load_keras_dataset(cfg: DataConfig) -> Dataset:
    """A `keras.datasets` set from Keras's cache, or downloaded; a plain error when neither."""
    import keras

    name = cfg.dataset or "mnist"
    module = getattr(keras.datasets, name)
    # urlretrieve has no timeout of its own and hangs forever on a network that drops packets.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        (x, y), (x_test, y_test) = module.load_data()
    except Exception as e:
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UserError(
            Problem(
                f"keras dataset '{name}' is not in Keras's cache (~/.keras/datasets, or "
                f"$KERAS_HOME/datasets) and could not be downloaded: {reason}",
                ("data", "dataset"),
                hint="connect to the network once, or copy the file into the cache",
            )
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    x = x[..., None] if x.ndim == 3 else x
    x_test = x_test[..., None] if x_test.ndim == 3 else x_test
    names = KERAS_SETS[name][1]
    return Dataset(
        x,
        y.reshape(-1).astype(np.int64),
        names,
        1 / 255,
        x_test,
        y_test.reshape(-1).astype(np.int64),
        origin=f"keras.datasets.{name}",
    )


def load_splits(config: Config, base_dir: Path, dataset: Dataset | None = None) -> Splits:
    """Load the configured data (unless `dataset` is it, already loaded) and split it
    (see `splits.split_dataset`)."""
    cfg = config.data
    if dataset is not None:
        ds = dataset
    elif cfg.source == "keras":
        ds = select_classes(load_keras_dataset(cfg), cfg.classes)
    else:
        ds, _ = load_dataset(cfg, base_dir)
    return decoded_splits(split_dataset(ds, cfg, config.seed))


def steps(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def _batch_indices(
    n: int, batch_size: int, shuffle_seed: int | None, epochs: int, first_epoch: int
) -> tf.data.Dataset:
    """Batches of row indices: each epoch's order a stateless function of (seed, epoch)."""
    if shuffle_seed is None:
        index = tf.data.Dataset.range(n, output_type=tf.int32).batch(batch_size)
        return index.repeat(epochs)

    def epoch_order(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(shuffle_seed, tf.int64), epoch])
        order = tf.argsort(tf.random.stateless_uniform([n], seed=key))  # int32
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return tf.data.Dataset.range(first_epoch, first_epoch + epochs).flat_map(
        tf.autograph.experimental.do_not_convert(epoch_order)
    )


def pipeline(
    x: Any,
    y: np.ndarray,
    scale: float,
    batch_size: int,
    *,
    loss: str,
    num_classes: int,
    weights: np.ndarray | None = None,
    shuffle_seed: int | None = None,
    epochs: int = 1,
    first_epoch: int = 0,
    mix: Callable[..., Any] | None = None,
) -> tf.data.Dataset:
    """Batches of (images scaled to [0, 1], labels in the form the loss wants).

    Args:
        x, y: images (array or lazy HDF5) and integer labels.
        scale: multiplies the pixels.
        batch_size: samples per batch; the last batch of an epoch may be smaller.
        loss: the training loss, which decides the labels' form (integers, one-hot, 0/1).
        num_classes: for one-hot labels.
        weights: one loss weight per class (`train.class_weight`): batches are then
            (images, labels, per-sample weights), which `fit` and the multi-worker loop apply.
        shuffle_seed: shuffle every epoch with this seed; None keeps the order.
        epochs: how many epochs the stream holds, one after another (for more than one, pass
            `steps_per_epoch` to `fit`).
        first_epoch: the epoch the stream starts at (0-based), when resuming.
        mix: applied to each batch after it is made (`train.augment`'s MixUp and CutMix).

    Epoch e's order is a stateless function of (shuffle_seed, e), not of an iterator's
    history, so a run resumed at epoch k sees exactly the batches an uninterrupted run would.
    """
    # int32 indices and labels: half the per-image memory of int64, which is what grows with
    # a streamed HDF5 file (images are read a batch at a time).
    labels = tf.constant(y, dtype=tf.int32)
    index = _batch_indices(len(y), batch_size, shuffle_seed, epochs, first_epoch)

    if _tensorflow_files(x):
        # TensorFlow's decoding ops, in the pipeline's own threads (cnnrun.engine.decode)
        images, parallel = row_decoder(base_of(x), rows_of(x)), tf.data.AUTOTUNE
    elif isinstance(x, TensorFlowCache):
        images, parallel = x.images, tf.data.AUTOTUNE
    elif isinstance(x, LazyImages):
        shape = (None, *x.shape[1:])

        def read(i: tf.Tensor) -> tf.Tensor:
            xb = tf.numpy_function(x.read, [i], tf.as_dtype(x.dtype), stateful=False)
            return tf.ensure_shape(xb, shape)

        # h5py serialises its reads: one batch at a time. Pillow decodes image files with
        # the GIL released, a batch per core; more threads only fought training for them.
        images, parallel = read, (os.cpu_count() or 1) if x.concurrent else 1
    else:
        pixels = tf.constant(x)

        def images(i: tf.Tensor) -> tf.Tensor:
            return tf.gather(pixels, i)

        parallel = tf.data.AUTOTUNE

    per_class = None if weights is None else tf.constant(weights, tf.float32)

    def fetch(i: tf.Tensor) -> tuple[tf.Tensor, ...]:
        xb = tf.cast(images(i), tf.float32) * scale
        label = tf.gather(labels, i)
        yb = label
        if loss == "categorical_crossentropy":
            yb = tf.one_hot(label, num_classes)
        elif loss == "binary_crossentropy":
            yb = tf.cast(tf.reshape(label, (-1, 1)), tf.float32)
        return (xb, yb) if per_class is None else (xb, yb, tf.gather(per_class, label))

    # graph ops only, no Python control flow on tensors: nothing for autograph to rewrite
    plain = tf.autograph.experimental.do_not_convert
    batches = index.map(plain(fetch), num_parallel_calls=parallel, deterministic=True)
    if mix is not None:
        batches = batches.map(mix, num_parallel_calls=1, deterministic=True)
    batches = batches.prefetch(
        tf.data.AUTOTUNE if parallel == tf.data.AUTOTUNE else max(2, parallel)
    )
    # Without tf.data's autotuning thread: dropping an iterator joins that thread, which
    # can sit out the rest of its timed sleep first (up to seconds: benchmarks/RESULTS.md).
    # Maps then run one call per core, as many as the machine can use here anyway.
    opts = tf.data.Options()
    opts.autotune.enabled = False
    return batches.with_options(opts)


def _tensorflow_files(x: Any) -> bool:
    base = base_of(x)
    return isinstance(base, ImageFiles) and base.spec.decoder == "tensorflow"


def one_pass(config: Config, splits: Splits, x: Any, y: np.ndarray) -> tf.data.Dataset:
    """One ordered pass over `x, y` in training batches: for validation or test scores.

    One finite pass per epoch, not a repeat()ed stream: Keras's evaluate drops the previous
    epoch's validation iterator, and dropping a repeat()ed one that sat idle through a
    training epoch waits for tf.data's autotuning thread to wake up, up to a second and a
    half (see RESULTS.md). An exhausted iterator has no thread left to wait for.
    """
    t = config.train
    n = len(splits.class_names)
    return pipeline(x, y, splits.scale, t.batch_size, loss=fit_loss(config), num_classes=n)
