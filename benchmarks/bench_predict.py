"""Predict throughput: cnnrun's predict path against plain `model.predict`, same weights, same
data, alternated A B A B in one process so machine drift hits both alike.

Usage:
    python benchmarks/bench_predict.py [--images 20000] [--repeat 3] [--batch-size 256]

A (cnnrun): read the weights file's metadata, rebuild and load the model, read the .npz input,
predict in batches. B (plain Keras): the same architecture typed by hand, `load_weights`, the
array scaled to float32 by hand, `model.predict(x, batch_size=...)`. Both include loading the
weights and reading the input file; TensorFlow's import is paid once, before either.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

from cnnrun.config.load import load_config
from cnnrun.data.inputs import read_inputs
from cnnrun.data.sources import load_dataset
from cnnrun.engine.model import build_model
from cnnrun.engine.predict import load_predictor, predict_probabilities
from cnnrun.engine.recorder import save_weights
from cnnrun.plan import make_plan

ROOT = Path(__file__).resolve().parent.parent


def hand_written_model() -> keras.Model:
    """configs/mnist5k.yaml, as a user would retype it."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    plan = make_plan(load_config(ROOT / "configs" / "mnist5k.yaml"))
    ds, _ = load_dataset(plan.config.data, ROOT)
    reps = -(-args.images // len(ds.x))
    x = np.concatenate([ds.x] * reps)[: args.images]
    tmp = Path(tempfile.mkdtemp())
    np.savez(tmp / "input.npz", x=x)
    model = build_model(plan.config)
    weights = tmp / "best.weights.h5"
    metadata = {
        "config": plan.config.resolved(),
        "class_names": plan.class_names,
        "input_shape": [28, 28, 1],
        "preprocessing": {"scale": ds.scale},
    }
    save_weights(model, weights, metadata, with_optimizer=False)  # as training writes it

    def cnnrun_path() -> np.ndarray:
        pred = load_predictor(weights)
        data = read_inputs([str(tmp / "input.npz")], (28, 28, 1), pred.class_names, pred.scale)
        return predict_probabilities(pred, data.x, data.scale, args.batch_size)

    def plain_keras() -> np.ndarray:
        m = hand_written_model()
        m.load_weights(weights)
        with np.load(tmp / "input.npz") as f:
            arr = f["x"].astype(np.float32) / 255.0
        return m.predict(arr, batch_size=args.batch_size, verbose=0)

    a, b = cnnrun_path(), plain_keras()  # warm-up, and both must agree
    assert np.allclose(a, b, atol=1e-5), "the two paths disagree"
    times: dict[str, list[float]] = {"cnnrun": [], "keras": []}
    for _ in range(args.repeat):
        for name, fn in (("cnnrun", cnnrun_path), ("keras", plain_keras)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    print(f"{args.images} images of 28x28, batch {args.batch_size}, median of {args.repeat}:")
    for k in ("cnnrun", "keras"):
        runs = ", ".join(f"{t:.2f}" for t in times[k])
        print(f"  {k:7s} {args.images / med[k]:8.0f} images/s  ({runs} s)")
    print(f"  ratio cnnrun/keras throughput: {med['keras'] / med['cnnrun']:.2f}")


if __name__ == "__main__":
    main()
