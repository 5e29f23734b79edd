"""Variance shift, measured: how far each BatchNormalization layer's moving variance is from
the variance its input really has at test time.

Dropout scales the units it keeps by 1 / (1 - rate) during training only. A batchnorm layer
right after it learns its moving variance from those scaled activations, and at test time,
with dropout off, its input's variance is smaller: the ratio moving / actual tends to
1 / (1 - rate) (Li et al., CVPR 2019, "Understanding the Disharmony between Dropout and Batch
Normalization by Variance Shift").

Example:
    ```python
    rows = variance_shift(model, cfg.model.layers, validation_images)
    rows[0]["where"], rows[0]["dropout_shift_median"]  # ('model.layers[4].batchnorm', 2.31)
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cnnrun.config.layers import LayerEntry, feeding
from cnnrun.engine.precise_bn import batchnorm_layers, population_statistics, sample_images, sums_of
from cnnrun.errors import format_path
from cnnrun.runs.names import BEST


def variance_shift(
    model: keras.Model, layers: Sequence[LayerEntry], images: np.ndarray, batch: int = 256
) -> list[dict]:
    """For every BatchNormalization layer: its moving variance against its input's variance,
    in training mode (dropout on) and in inference mode (dropout off).

    Args:
        model: a built functional model (as `cnnrun.engine.model.build_model` makes).
        layers: the config's `model.layers` it was built from.
        images: input images, scaled as in training.
        batch: images per forward pass.

    Returns:
        One dict per batchnorm layer: `where` (its field path in the config), `name`, `after`
        (the kind of the layer feeding it, activations skipped), `channels`, and per-channel
        ratios of `variance + epsilon` (the scale batchnorm divides by), summarised by their
        medians: `lag_median`, moving over training-mode (what the averages have not caught
        up with: momentum),
        `dropout_shift_median`, training-mode over inference-mode (Dropout's variance shift,
        Li et al., 2019), and `ratio_median`, moving over inference-mode, the two together;
        `shift_max` is the largest of max(ratio, 1 / ratio) of the last.
    """
    bns = batchnorm_layers(model)
    # read before any training-mode pass: those update the moving statistics as they run
    moving = [np.asarray(layer.moving_variance, dtype=np.float64) for layer in bns]
    test = [population_statistics(sums_of(model, b), images, batch)[1] for b in bns]
    train = [population_statistics(sums_of(model, b, True), images, batch)[1] for b in bns]
    rows = []
    for layer, m, v_train, v_test in zip(bns, moving, train, test, strict=True):
        eps = layer.epsilon
        ratio = (m + eps) / (v_test + eps)
        # layers are named <kind>_<place in model.layers>[_<place in the block>...]
        where, before = feeding(layers, [int(i) for i in layer.name.split("_")[1:]])
        rows.append(
            {
                "where": where,
                "name": layer.name,
                "after": before.kind if before else "input",
                "channels": int(ratio.size),
                "lag_median": float(np.median((m + eps) / (v_train + eps))),
                "dropout_shift_median": float(np.median((v_train + eps) / (v_test + eps))),
                "ratio_median": float(np.median(ratio)),
                "shift_max": float(np.max(np.maximum(ratio, 1 / ratio))),
            }
        )
    return rows


def backbone_batchnorms(model: keras.Model, config: Any) -> list[dict]:
    """Each backbone's batchnorms, listed apart: how many, in which mode, frozen or not.

    They are the backbone's own (pretrained) statistics: not measured against the data here,
    and never recomputed by precise statistics.
    """
    from cnnrun.engine.backbones import backbones

    out = []
    for loc, name, a in backbones(config):
        bns = [
            x
            for x in model.get_layer(name).layers
            if isinstance(x, keras.layers.BatchNormalization)
        ]
        out.append(
            {
                "where": format_path(loc),
                "backbone": a.name,
                "batchnorms": len(bns),
                "mode": a.batchnorm,
                "trainable": a.trainable,
            }
        )
    return out


def inspect_run(run_dir: Path) -> tuple[list[dict], int, list[dict]]:
    """`variance_shift` of a run's best weights on its validation images, and its backbones'
    batchnorms apart; (rows, images, backbones)."""
    from cnnrun.engine.pipeline import load_splits
    from cnnrun.engine.predict import load_predictor

    pred = load_predictor(run_dir / BEST)
    splits = load_splits(pred.config, run_dir)
    n = len(splits.y_val)
    images = sample_images(splits.x_val, splits.scale, n, 1, pred.config.seed)
    rows = variance_shift(pred.model, pred.config.model.layers, images)
    return rows, n, backbone_batchnorms(pred.model, pred.config)
