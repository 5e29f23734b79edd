"""Variance shift, measured: how far each BatchNormalization layer's moving variance is from
the variance its input really has at test time.

Dropout scales the units it keeps by 1 / (1 - rate) during training only. A batchnorm layer
right after it learns its moving variance from those scaled activations, and at test time,
with dropout off, its input's variance is smaller: the ratio moving / actual tends to
1 / (1 - rate) (Li et al., CVPR 2019, "Understanding the Disharmony between Dropout and Batch
Normalization by Variance Shift").

Example:
    >>> rows = variance_shift(model, validation_batches)
    >>> rows[0]["shift_max"]
    1.97
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cnnrun.runs.folder import BEST


def variance_shift(model: keras.Model, batches: Iterable[Any]) -> list[dict]:
    """For every BatchNormalization layer: its moving variance against its input's variance.

    Args:
        model: a built Sequential model (as `cnnrun.model.build_model` makes).
        batches: input batches (images only), run with dropout and augmentation off.

    Returns:
        One dict per batchnorm layer: `index`, `name`, `after` (the kind of the layer feeding
        it, activations skipped), `channels`, and per-channel
        `ratio = (moving + epsilon) / (actual + epsilon)`, batchnorm's own epsilon, summarised
        as `ratio_median` and `shift_max`, the largest of max(ratio, 1 / ratio).
    """
    bn = [
        i
        for i, layer in enumerate(model.layers)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not bn:
        return []
    feeds = [model.layers[i - 1].output for i in bn]  # layers[0] is the input layer
    probe = keras.Model(model.inputs, feeds)
    sums: list[Any] = [None] * len(bn)
    squares: list[Any] = [None] * len(bn)
    count = 0
    for xb in batches:
        outs = probe(xb, training=False)
        outs = outs if isinstance(outs, list | tuple) else [outs]
        for k, out in enumerate(outs):
            a = np.asarray(out, dtype=np.float64).reshape(-1, out.shape[-1])
            sums[k] = a.sum(0) if sums[k] is None else sums[k] + a.sum(0)
            squares[k] = (a**2).sum(0) if squares[k] is None else squares[k] + (a**2).sum(0)
        count += a.shape[0]
    rows = []
    for k, i in enumerate(bn):
        layer = model.layers[i]
        mean = sums[k] / count
        actual = np.maximum(squares[k] / count - mean**2, 0.0)
        moving = np.asarray(layer.moving_variance, dtype=np.float64)
        # Batchnorm divides by sqrt(variance + epsilon), so that is the scale it gets wrong;
        # the epsilon also keeps dead ReLU units (variance 0) from reading as infinite shifts.
        ratio = (moving + layer.epsilon) / (actual + layer.epsilon)
        j = i - 1
        while isinstance(model.layers[j], keras.layers.Activation):
            j -= 1
        after = model.layers[j].name.split("_", 1)[0]
        rows.append(
            {
                # layers are named <kind>_<place in model.layers>, the config's own numbering
                "index": int(layer.name.split("_")[1]),
                "name": layer.name,
                "after": after,
                "channels": int(ratio.size),
                "ratio_median": float(np.median(ratio)),
                "shift_max": float(np.max(np.maximum(ratio, 1 / ratio))),
            }
        )
    return rows


def inspect_run(run_dir: Path) -> tuple[list[dict], int]:
    """`variance_shift` of a run's best weights on its validation images; (rows, images)."""
    from cnnrun.engine.pipeline import load_splits, one_pass
    from cnnrun.engine.predict import load_predictor

    pred = load_predictor(run_dir / BEST)
    splits = load_splits(pred.config, run_dir)
    batches = one_pass(pred.config, splits, splits.x_val, splits.y_val).map(lambda xb, _: xb)
    return variance_shift(pred.model, batches), len(splits.y_val)
