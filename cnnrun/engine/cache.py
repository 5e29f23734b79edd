"""`data.cache: memory` for image files TensorFlow decodes: a store on the CPU filled by the
first epoch as it reads, shared by the training pipeline and every other reader.

Example:
    ```python
    splits = splits.cached("memory", None, memory_cache)  # in `cnnrun.engine.prepare`
    batch = splits.x_train.read(np.array([0, 5]))  # decoded now, kept for the next read
    ```
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from cnnrun.data.cache import materialize
from cnnrun.data.images import ImageFiles
from cnnrun.data.lazy import LazyImages, base_of, rows_of
from cnnrun.engine.decode import READ_BATCH, row_decoder, tensorflow_decoded


@dataclass(eq=False)
class TensorFlowCache(LazyImages):
    """`data.cache: memory` for files TensorFlow decodes: each row decoded the first time it
    is read and kept from then on, in a variable on the CPU.

    Filled by the first epoch as it reads, not before it: the decoding then runs in the
    input pipeline's threads beside training rather than holding up its first step, and a
    test split is decoded only when it is scored. The pipeline maps `images` over its
    batches; `read` and `chunks` (precise statistics, galleries, Grad-CAM) go through the
    same function, so every reader shares one store. Graph ops only: no Python runs in the
    pipeline's threads, so dropping a pipeline mid-epoch never waits for the GIL (a
    `numpy_function` there deadlocked when an iterator was deleted with calls in flight).

    Args:
        source: the rows of a `TensorFlowFiles` (the whole set or a subset).
    """

    source: Any
    concurrent: bool = True
    parallel_chunks = True

    def __post_init__(self) -> None:
        self._decode = row_decoder(base_of(self.source), rows_of(self.source))
        with tf.device("/cpu:0"):  # the input pipeline's device, also on a GPU machine
            # left unwritten (a row is read only once `ready` says it was stored), so the
            # store's pages are touched by the decoding that fills them, not zeroed first
            blank = tf.raw_ops.Empty(shape=self.shape, dtype=tf.uint8, init=False)
            self.store = tf.Variable(blank, trainable=False)
            self.ready = tf.Variable(tf.zeros([len(self.source)], tf.bool), trainable=False)

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(self.source.shape)

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return np.dtype(np.uint8)

    def images(self, i: tf.Tensor) -> tf.Tensor:
        """Rows `i` (int32 positions), those not decoded yet decoded and kept first."""
        todo = tf.boolean_mask(i, tf.logical_not(tf.gather(self.ready, i)))
        at = tf.expand_dims(todo, 1)
        stored = tf.raw_ops.ResourceScatterNdUpdate(
            ref=self.store.handle, indices=at, updates=self._decode(todo)
        )
        # a row is marked ready only once its pixels are in: a concurrent call (the next
        # epoch's first batches are made while this one's last are) that finds it ready
        # must find them there
        with tf.control_dependencies([stored]):
            marked = tf.raw_ops.ResourceScatterNdUpdate(
                ref=self.ready.handle, indices=at, updates=tf.ones_like(todo, tf.bool)
            )
        with tf.control_dependencies([stored, marked]):
            return tf.gather(self.store, i)

    def read(self, index: np.ndarray) -> np.ndarray:
        if not len(index):
            return np.empty((0, *self.shape[1:]), np.uint8)
        rows = tf.constant(np.asarray(index, dtype=np.int32))
        if bool(tf.reduce_all(tf.gather(self.ready, rows))):  # all stored: no pipeline to make
            return tf.gather(self.store, rows).numpy()
        return np.concatenate(list(self.chunks(index, READ_BATCH)))

    def chunks(self, index: np.ndarray, size: int) -> Iterator[np.ndarray]:
        rows = tf.data.Dataset.from_tensor_slices(np.asarray(index, dtype=np.int32))
        batches = rows.batch(size).map(
            tf.autograph.experimental.do_not_convert(self.images),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        for batch in batches.prefetch(tf.data.AUTOTUNE):
            yield batch.numpy()


def memory_cache(x: Any) -> LazyImages:
    """`data.cache: memory` for `x`: filled as it is read where TensorFlow decodes the files,
    else decoded whole before training (`cnnrun.data.cache.materialize`)."""
    base = base_of(x)
    if isinstance(base, ImageFiles) and base.spec.decoder == "tensorflow":
        return TensorFlowCache(tensorflow_decoded(x))
    return materialize(x)
