"""Write cnnrun/config/layers/backbone_table.py: what `validate` needs to know of every
`keras.applications` constructor without TensorFlow.

Usage:
    python scripts/make_backbones.py

For each constructor, built with `include_top=False, weights=None` on an input of unknown
size, it records: the smallest input side Keras accepts; the output height (the same rule
gives the width) for every input side from that minimum to 1024, compressed to the formula
`floor((side + add) / div)` that reproduces all of them; the output channels; the parameters
(all and trainable, batchnorm statistics being the difference, and the batchnorms' own
scales and offsets); the multiply-adds per input
pixel (at 224x224, or the minimum when larger, from each layer's kernel and output size);
and how Keras's `preprocess_input` of the family maps 0..255 RGB pixels, channel by channel
(`out[c] = in[src[c]] * scale[c] + offset[c]`): caffe's BGR means, tf's -1..1, torch's
ImageNet mean and deviation, or nothing for the families that carry it inside the model.
Run again after a Keras upgrade adds or changes a constructor.
"""

from __future__ import annotations

import math
import os
import pprint
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "cnnrun" / "config" / "layers" / "backbone_table.py"


def constructors() -> dict[str, tuple[object, object]]:
    """Every constructor in keras.applications, with its own module's preprocess_input."""
    found = {}
    for name in dir(keras.applications):
        fn = getattr(keras.applications, name)
        if name[0].isupper() and callable(fn):
            found[name] = (fn, sys.modules[fn.__module__].preprocess_input)
    return found


def preprocessing(pre: object) -> dict[str, list[float]]:
    """`preprocess_input` as per-channel src, scale and offset, probed with one-hot pixels."""
    zero = np.asarray(pre(np.zeros((1, 1, 1, 3), np.float32)), np.float64).reshape(3)
    src, scale = [], []
    for c in range(3):
        hits = []
        for i in range(3):
            x = np.zeros((1, 1, 1, 3), np.float32)
            x[..., i] = 100.0
            y = np.asarray(pre(x), np.float64).reshape(3)
            if abs(y[c] - zero[c]) > 1e-9:
                hits.append((i, (y[c] - zero[c]) / 100.0))
        assert len(hits) == 1, (c, hits)
        src.append(hits[0][0])
        scale.append(float(hits[0][1]))
    return {"src": src, "scale": scale, "offset": [float(v) for v in zero]}


def macs(model: keras.Model) -> int:
    """Multiply-adds of one forward pass: each kernel's size times its output positions."""
    total = 0
    for layer in _layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None and hasattr(layer, "depthwise_kernel"):
            kernel = layer.depthwise_kernel
        if kernel is None:
            continue
        out = layer.output.shape
        positions = math.prod(d for d in out[1:-1] if d) if len(out) > 2 else 1
        size = math.prod(kernel.shape)
        if hasattr(layer, "pointwise_kernel"):
            size += math.prod(layer.pointwise_kernel.shape)
        total += size * positions
    return total


def _layers(model: keras.Model) -> list:
    out = []
    for layer in model.layers:
        out += _layers(layer) if isinstance(layer, keras.Model) else [layer]
    return out


def batchnorm_affine(model: keras.Model) -> int:
    """Scales and offsets of the batchnorms: trainable only in `batchnorm: train`."""
    return sum(
        math.prod(w.shape)
        for layer in _layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
        for w in layer.trainable_weights
    )


def minimum(fn: object) -> int:
    for side in range(8, 400):
        try:
            fn(include_top=False, weights=None, input_shape=(side, side, 3))
            return side
        except ValueError:
            continue
    raise RuntimeError("no input side accepted")


def formula(outs: dict[int, int]) -> tuple[int, int]:
    """(add, div) with floor((side + add) / div) == outs[side] for every side."""
    for div in (32, 16, 8):
        for add in range(-200, 200):
            if all((s + add) // div == o for s, o in outs.items()):
                return add, div
    raise RuntimeError(f"no formula fits {list(outs.items())[:10]}")


def describe(name: str, fn: object, pre: object) -> dict:
    low = minimum(fn)
    free = fn(include_top=False, weights=None, input_shape=(None, None, 3))
    outs = {}
    for side in [*range(low, low + 97), 320, 512, 1024]:
        try:
            outs[side] = int(free.compute_output_shape((1, side, side, 3))[1])
        except ValueError:
            break
    if not outs:  # NASNet crops inside its cells by the input's size: built size by size
        for side in [*range(low, low + 97, 3), 320, 512]:
            built = fn(include_top=False, weights=None, input_shape=(side, side, 3))
            outs[side] = int(built.output.shape[1])
    add, div = formula(outs)
    ref = max(224, low)
    model = fn(include_top=False, weights=None, input_shape=(ref, ref, 3))
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {
        "module": fn.__module__.rsplit(".", 1)[-1],
        "min_side": low,
        "add": add,
        "div": div,
        "channels": int(model.output.shape[-1]),
        "params": int(model.count_params()),
        "trainable": int(trainable),
        "batchnorm_affine": batchnorm_affine(model),
        "macs_per_pixel": round(macs(model) / (ref * ref), 1),
        "preprocess": preprocessing(pre),
        "keras_name": model.name,
    }


def main() -> None:
    table = {}
    for name, (fn, pre) in sorted(constructors().items()):
        table[name] = describe(name, fn, pre)
        keras.backend.clear_session()
        print(name, table[name]["min_side"], table[name]["channels"], table[name]["params"])
    text = (
        '"""Every `keras.applications` constructor, as `validate` needs it without TensorFlow.\n\n'
        f"Written by scripts/make_backbones.py from Keras {keras.__version__}; do not edit.\n"
        '"""\n\n'
        "from typing import Any\n\n"
        f"KERAS_VERSION = {keras.__version__!r}\n"
        "BACKBONES: dict[str, dict[str, Any]] = "
        f"{pprint.pformat(table, width=96, sort_dicts=False)}\n"
    )
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
