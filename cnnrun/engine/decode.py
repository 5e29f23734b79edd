"""Image files decoded by TensorFlow's own ops: the decoder the network's pixels come from, in
training, caches, precise statistics, predict, Grad-CAM and export calibration alike.

The ops run in the input pipeline's threads without Python's GIL, so a batch decodes on
every core (Pillow's per-file Python work held the GIL: benchmarks/RESULTS.md). JPEGs decode
with libjpeg's accurate integer DCT (`dct_method="INTEGER_ACCURATE"`, as Pillow decodes
them: the same pixels) and, when much larger than the network's input, at libjpeg's 1/2, 1/4
or 1/8 scale (Pillow's `draft`, same pixels again); every other format through
`tf.io.decode_image`. A phone photo's EXIF orientation, read in the pre-flight from its
header, is applied here; grey becomes RGB by repetition and RGB grey by Pillow's own integer
luma formula; an alpha channel is dropped; then the picture is fitted to the input's size
(`tf.image.resize`, antialiased) unless it already has that size.

Example:
    ```python
    files = tensorflow_decoded(files)  # an ImageFiles with `spec.decoder == "tensorflow"`
    batch = files.read(np.array([0, 5]))  # uint8, (2, height, width, channels)
    ```
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import tensorflow as tf

from cnnrun.data.images import Decode, ImageFiles, jpeg_scales
from cnnrun.data.lazy import Subset
from cnnrun.data.splits import Splits

RATIOS = (1, 2, 4, 8)  # libjpeg's reduced-scale decodes
READ_BATCH = 64  # files a parallel call decodes, outside the training pipeline
METHODS = {
    "bilinear": "bilinear",
    "nearest": "nearest",
    "bicubic": "bicubic",
    "lanczos": "lanczos3",
    "box": "area",
}
# Pillow's "L" conversion, ITU-R 601-2 luma in 16-bit fixed point, rounded
LUMA = (19595, 38470, 7471)


def _upright(img: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """EXIF orientation 1 to 8 applied: the picture as a person sees it.

    Each orientation is a transpose (5 to 8) followed by flips, chosen by data rather than a
    `tf.switch_case`: a case of eight branches per file (with `rot90`'s own conditionals
    inside) made decoding markedly slower and every pipeline slower to start.
    1 as is, 2 mirrored, 3 upside down, 4 flipped, 5 transposed, 6 turned a quarter
    counter-clockwise (rot90 k=3), 7 transversed, 8 turned a quarter clockwise (rot90 k=1).
    """
    o = tf.where((orientation >= 1) & (orientation <= 8), orientation, 1)
    perm = tf.where(o >= 5, tf.constant([1, 0, 2]), tf.constant([0, 1, 2]))
    flip_rows = tf.reduce_any(tf.equal(o, [3, 4, 7, 8]))
    flip_cols = tf.reduce_any(tf.equal(o, [2, 3, 6, 7]))
    axes = tf.boolean_mask(tf.constant([0, 1]), tf.stack([flip_rows, flip_cols]))
    return tf.reverse(tf.transpose(img, perm), axes)


def _channels(img: tf.Tensor, channels: int) -> tf.Tensor:
    """Any decoded channel count (1 to 4) as `channels`: alpha dropped, grey repeated, RGB to
    grey with Pillow's formula."""
    colour = tf.shape(img)[-1] >= 3
    if channels == 3:
        return tf.cond(colour, lambda: img[..., :3], lambda: tf.repeat(img[..., :1], 3, -1))

    def luma() -> tf.Tensor:
        weighted = tf.cast(img[..., :3], tf.int32) * tf.constant(LUMA, tf.int32)
        return tf.cast((tf.reduce_sum(weighted, -1, keepdims=True) + 0x8000) // 0x10000, tf.uint8)

    return tf.cond(colour, luma, lambda: img[..., :1])


def _resize(img: tf.Tensor, size: tuple[int, int], method: str) -> tf.Tensor:
    out = tf.image.resize(img, size, method=method, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def _fit(img: tf.Tensor, spec: Decode) -> tf.Tensor:
    """The upright picture at the network's size: stretched, centre-cropped to its aspect
    ratio first, or fitted inside it with black bars."""
    h, w = spec.size
    method = METHODS[spec.interpolation]
    shape = tf.shape(img)
    ih, iw = shape[0], shape[1]
    fh, fw = tf.cast(ih, tf.float64), tf.cast(iw, tf.float64)
    target = w / h
    if spec.resize == "crop":
        ch = tf.cast(tf.round(tf.minimum(fh, fw / target)), tf.int32)
        cw = tf.cast(tf.round(tf.minimum(fw, fh * target)), tf.int32)
        img = tf.image.crop_to_bounding_box(img, (ih - ch) // 2, (iw - cw) // 2, ch, cw)
    elif spec.resize == "pad":
        scale = tf.minimum(h / fh, w / fw)
        nh = tf.clip_by_value(tf.cast(tf.round(fh * scale), tf.int32), 1, h)
        nw = tf.clip_by_value(tf.cast(tf.round(fw * scale), tf.int32), 1, w)
        inner = tf.cond(
            tf.equal(nh, ih) & tf.equal(nw, iw),
            lambda: img,
            lambda: _resize(img, tf.stack([nh, nw]), method),
        )
        return tf.image.pad_to_bounding_box(inner, (h - nh) // 2, (w - nw) // 2, h, w)
    shape = tf.shape(img)
    return tf.cond(
        tf.equal(shape[0], h) & tf.equal(shape[1], w),
        lambda: img,
        lambda: _resize(img, (h, w), method),
    )


def decode_file(path: tf.Tensor, meta: tf.Tensor, spec: Decode) -> tf.Tensor:
    """One file's pixels, uint8 (height, width, channels): graph ops only.

    Args:
        path: the file's path, a string scalar.
        meta: int32 (orientation, JPEG scale index): from `ImageFiles.meta` and
            `cnnrun.data.images.jpeg_scales`.
    """
    data = tf.io.read_file(path)
    jpeg = tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")

    def as_jpeg() -> tf.Tensor:
        return tf.switch_case(
            meta[1],
            [
                lambda r=r: tf.io.decode_jpeg(data, dct_method="INTEGER_ACCURATE", ratio=r)
                for r in RATIOS
            ],
        )

    def other() -> tf.Tensor:
        return tf.io.decode_image(data, expand_animations=False, dtype=tf.uint8)

    img = tf.cond(jpeg, as_jpeg, other)
    img = _channels(tf.ensure_shape(img, (None, None, None)), spec.channels)
    out = _fit(_upright(img, meta[0]), spec)
    return tf.ensure_shape(out, (*spec.size, spec.channels))


@functools.cache
def batch_decoder(spec: Decode) -> Any:
    """`(paths, meta) -> uint8 (n, height, width, channels)`, the files of a batch decoded in
    parallel by TensorFlow's own threads.

    One compiled function per decoding for the whole process: every pipeline and read that
    calls it (each split, each cache, predict) reuses its one trace, which otherwise costs
    about as long as decoding a thousand small JPEGs.
    """
    out = tf.TensorSpec((*spec.size, spec.channels), tf.uint8)

    # autograph=False: the ops are built with tf.cond and tf.switch_case already, and
    # autograph's source rewriting costs more than the trace itself
    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string),
            tf.TensorSpec([None, 2], tf.int32),
        ],
        autograph=False,
    )
    def decode(paths: tf.Tensor, meta: tf.Tensor) -> tf.Tensor:
        return tf.map_fn(
            lambda pm: decode_file(pm[0], pm[1], spec),
            (paths, meta),
            fn_output_signature=out,
            parallel_iterations=32,
        )

    return decode


def file_table(files: ImageFiles) -> tuple[np.ndarray, np.ndarray]:
    """Every file's path, and int32 (orientation, JPEG scale index) for `decode_file`."""
    meta = files.survey()
    scales = jpeg_scales(meta, files.spec)
    return np.asarray(files.paths), np.stack([meta[:, 2], scales], axis=1).astype(np.int32)


def row_decoder(files: ImageFiles, rows: np.ndarray) -> Any:
    """`i -> pixels` for positions `i` in `rows` (rows of `files`): the graph function the
    training pipeline and every other read of these files map over batches of positions."""
    paths, meta = file_table(files)
    paths_t, meta_t = tf.constant(paths[rows]), tf.constant(meta[rows])
    decode = batch_decoder(files.spec)

    def images(i: tf.Tensor) -> tf.Tensor:
        return decode(tf.gather(paths_t, i), tf.gather(meta_t, i))

    return images


@dataclass
class TensorFlowFiles(ImageFiles):
    """Image files read through `decode_file`, also outside the input pipeline (caches,
    precise statistics' sample, Grad-CAM, export calibration): one `tf.data` pass over the
    rows asked for, decoded a batch at a time in parallel, as in training."""

    parallel_chunks = True

    def read(self, index: np.ndarray) -> np.ndarray:
        if not len(index):
            return np.empty((0, *self.shape[1:]), np.uint8)
        return np.concatenate(list(self.chunks(index, READ_BATCH)))

    def chunks(self, index: np.ndarray, size: int) -> Iterator[np.ndarray]:
        rows = tf.data.Dataset.range(len(index), output_type=tf.int32).batch(size)
        batches = rows.map(
            tf.autograph.experimental.do_not_convert(
                row_decoder(self, np.asarray(index, dtype=np.int64))
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        for batch in batches.prefetch(tf.data.AUTOTUNE):
            yield batch.numpy()


def decoded_splits(splits: Splits) -> Splits:
    """The splits with their image files read by `decode_file`, as every part of a run
    reads the network's pixels."""
    parts = {k: tensorflow_decoded(getattr(splits, k)) for k in ("x_train", "x_val", "x_test")}
    return replace(splits, **parts)


def tensorflow_decoded(x: Any) -> Any:
    """`x` with its image files (a whole set, or some rows of one) read by `decode_file`
    where their decoding says `tensorflow`; anything else as it is."""
    if isinstance(x, Subset):
        base = tensorflow_decoded(x.base)
        return x if base is x.base else Subset(base, x.rows)
    if type(x) is ImageFiles and x.spec.decoder == "tensorflow":
        return TensorFlowFiles(x.paths, x.spec, x.root, x.concurrent, x.meta)
    return x
