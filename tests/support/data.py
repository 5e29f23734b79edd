"""Small learnable image sets the tests write: the class in the brightness of the top half,
or in which quadrant is bright (for Grad-CAM), and networks that learn them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LAYERS = """\
model:
  layers:
    - conv2d: {{filters: 4, kernel_size: 3, padding: same}}
    - globalavgpool2d: {{}}
    - dense: {{units: {units}, activation: softmax}}
train: {{epochs: 1, batch_size: 16, precision: float32}}
"""


def synthetic(n: int = 60, classes: int = 3, size: int = 10, channels: int = 1, seed: int = 0):
    """`n` uint8 images whose class is how bright their top half is."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.integers(0, 60, (n, size, size, channels), dtype=np.uint8)
    x[..., : size // 2, :] += (y * 60).astype(np.uint8)[:, None, None, None]  # learnable
    return x, y


def quadrants(path: Path, n: int, seed: int) -> None:
    """16x16 grey images of noise; the class is the one quadrant that is bright."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(n, 16, 16, 1)).astype(np.uint8)
    y = np.arange(n) % 4
    for i, q in enumerate(y):
        r, c = divmod(int(q), 2)
        x[i, r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] = rng.integers(190, 256, size=(8, 8, 1))
    split = n * 3 // 4
    names = np.array(["top-left", "top-right", "bottom-left", "bottom-right"])
    np.savez(path, x=x[:split], y=y[:split], x_test=x[split:], y_test=y[split:], class_names=names)


QUADRANTS = """\
name: quadrants
seed: 3
data: {{source: npz, path: {path}}}
model:
  layers:
{layers}
    - maxpool2d: {{pool_size: 2}}
    - flatten: {{}}  # not a global pooling: the class is where the light is
    - dense: {{units: 4, activation: softmax}}
train:
  epochs: 3
  batch_size: 32
  precision: float32
  optimizer: {{name: adam, learning_rate: 0.01}}
"""
PLAIN = """\
    - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
    - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
"""
RESIDUAL = """\
    - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
    - residual:
        layers:
          - separableconv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
          - batchnorm: {}
"""
