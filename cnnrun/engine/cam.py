"""Grad-CAM (Selvaraju et al., 2017): where in an image a network looked for its answer.

The gradient of a class's score (its logit: the input of the last layer's softmax) with
respect to a convolutional layer's feature maps weighs the maps; their weighted sum, through
a ReLU and scaled to 0..1, is the heatmap, resized to the image.

Two weightings. `gradcam`, the paper's: each map weighed by its gradient averaged over the
map. `elementwise` (the default; HiResCAM, Draelos and Carin, 2020): each position weighed by
its own gradient. After a global average pooling the gradient is the same at every position
and the two are one map; before a flatten and a dense layer, as in most small CNNs, the
average mixes the positions that speak for the class with those that speak against it, and
the paper's map can light the wrong place. On the quadrant test (a class decided by which
quadrant is bright, a flatten head), averaged weights lit the deciding quadrant in 10 of 40
images, element-wise ones in 40 of 40.
It works on any functional cnnrun network: plain stacks, residual and separable blocks, and
weights trained in any precision (the network is rebuilt in float32 to read them).

Example:
    ```python
    layer = cam_layer(pred.model, pred.config, None)  # the last convolutional layer
    heat = grad_cam(pred.model, layer, images, classes)  # (N, H, W) in 0..1
    ```
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cnnrun.config.layers import REGISTRY
from cnnrun.config.schema import Config
from cnnrun.data.lazy import take
from cnnrun.errors import Problem, UserError

# Kinds whose output is a map of features over the image: where Grad-CAM can look.
SPATIAL = ("conv2d", "separableconv2d", "depthwiseconv2d")


def _candidates(model: keras.Model, config: Config) -> list[tuple[str, keras.layers.Layer]]:
    """The top-level layers of `model.layers` (by validate's index) with a 4-D output."""
    out = []
    for i, entry in enumerate(config.model.layers):
        name = f"{entry.kind}_{i}"
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        if len(layer.output.shape) == 4:
            out.append((str(i), layer))
    return out


def cam_layer(model: keras.Model, config: Config, index: str | None) -> keras.layers.Layer:
    """The layer Grad-CAM reads: validate's row `index` ("3", or "3.1" inside a block), or
    by default the last convolution or block whose output is a map of features.

    Raises:
        UserError: no such row, or a row whose output is not a map (exit 2).
    """
    candidates = _candidates(model, config)
    if index is None:
        kinds = [config.model.layers[int(i)].kind for i, _ in candidates]
        spatial = [
            c for c, k in zip(candidates, kinds, strict=True) if k in SPATIAL or REGISTRY[k].block
        ]
        if not spatial:
            raise UserError(
                Problem(
                    "the network has no convolution to look through",
                    hint="Grad-CAM needs a conv2d, separableconv2d, depthwiseconv2d or a block",
                )
            )
        return spatial[-1][1]
    if not re.fullmatch(r"\d+(\.\d+)*", index):
        raise UserError(
            Problem(
                f"expected a row of `cnnrun validate`'s table, such as 3 or 3.1, got {index!r}",
                file="--layer",
            )
        )
    suffix = "_" + index.replace(".", "_")
    pattern = re.compile(r"[a-z0-9]+" + re.escape(suffix))
    found = [la for la in model.layers if pattern.fullmatch(la.name)]
    maps = ", ".join(i for i, _ in candidates)
    if not found or len(found[0].output.shape) != 4:
        what = "no such row" if not found else f"{found[0].name} outputs no map of features"
        hint = "cnnrun validate RUN_DIR/config.yaml shows the rows"
        raise UserError(
            Problem(f"{what}; rows whose output is a map: {maps}", file="--layer", hint=hint)
        )
    return found[0]


def _logits(model: keras.Model) -> tuple[keras.layers.Layer | None, bool]:
    """The last Dense layer when it ends in softmax or sigmoid (its pre-activation is the
    class score), and whether the network's output is a single sigmoid unit."""
    last = model.layers[-1]
    single = int(model.output.shape[-1]) == 1
    if isinstance(last, keras.layers.Dense) and last.activation in (
        keras.activations.softmax,
        keras.activations.sigmoid,
    ):
        return last, single
    return None, single


def grad_cam(
    model: keras.Model,
    layer: keras.layers.Layer,
    images: np.ndarray,
    classes: np.ndarray,
    method: str = "elementwise",
    batch: int = 64,
) -> np.ndarray:
    """Heatmaps (N, H, W) in 0..1 for `classes` (one per image) from `layer`'s maps.

    Args:
        model: a functional network; images: scaled as in training, (N, H, W, C).
        classes: the class to explain per image (its prediction, usually).
        method: `elementwise` (each position's own gradient) or `gradcam` (each map's
            gradient averaged over the map, as in the paper).
    """
    dense, single = _logits(model)
    outputs = [layer.output, dense.input if dense is not None else model.output]
    probe = keras.Model(model.inputs, outputs)
    maps = []
    for start in range(0, len(images), batch):
        x = tf.convert_to_tensor(images[start : start + batch], tf.float32)
        c = tf.convert_to_tensor(classes[start : start + batch], tf.int32)
        with tf.GradientTape() as tape:
            tape.watch(x)  # records the forward pass, so the maps' gradient can be read
            features, before = probe(x, training=False)
            scores = tf.cast(before, tf.float32)
            if dense is not None:
                scores = tf.matmul(scores, tf.cast(dense.kernel, tf.float32))
                if dense.use_bias:
                    scores = scores + tf.cast(dense.bias, tf.float32)
            if single:  # one sigmoid unit: class 1 is its logit, class 0 the negative
                picked = scores[:, 0] * tf.where(c == 1, 1.0, -1.0)
            else:
                picked = tf.gather(scores, c, batch_dims=1)
        grads = tf.cast(tape.gradient(picked, features), tf.float32)
        features = tf.cast(features, tf.float32)
        weights = grads if method == "elementwise" else tf.reduce_mean(grads, (1, 2), True)
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        cam = tf.math.divide_no_nan(cam, peak)
        resized = tf.image.resize(cam[..., None], images.shape[1:3], method="bilinear")
        maps.append(resized[..., 0].numpy())
    return np.concatenate(maps) if maps else np.zeros(images.shape[:3], np.float32)


def explain(
    weights: str,
    images: np.ndarray,
    scale: float,
    layer_index: str | None,
    method: str = "elementwise",
) -> tuple[np.ndarray, np.ndarray, str]:
    """Predict `images` (stored pixels) with a weights file's network and Grad-CAM each
    prediction: (probabilities, heatmaps, the layer's name)."""
    from cnnrun.engine.predict import load_predictor, predict_probabilities

    pred = load_predictor(Path(weights))
    layer = cam_layer(pred.model, pred.config, layer_index)
    probs = predict_probabilities(pred, images, scale, 256)
    x = np.asarray(images, np.float32) * np.float32(scale)
    heat = grad_cam(pred.model, layer, x, probs.argmax(axis=1), method)
    return probs, heat, layer.name


def run_answers(run_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, float]:
    """A run's test images (validation without a test split), their labels and the best
    weights' probabilities: (images, labels, probabilities, which set, pixel scale)."""
    from cnnrun.engine.pipeline import load_splits
    from cnnrun.engine.predict import load_predictor, predict_probabilities
    from cnnrun.runs.names import BEST

    pred = load_predictor(Path(run_dir) / BEST)
    splits = load_splits(pred.config, Path(run_dir))
    test = splits.y_test is not None
    x, y = (splits.x_test, splits.y_test) if test else (splits.x_val, splits.y_val)
    images = take(x, np.arange(len(y)))
    probs = predict_probabilities(pred, images, splits.scale, 256)
    return images, y, probs, "test set" if test else "validation set", splits.scale
