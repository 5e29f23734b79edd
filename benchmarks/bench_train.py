"""Training speed: cnnrun's own training path against the hand-written Keras workflow it
replaces, alternated A B A B in one process so machine drift hits both alike.

Usage:
    python benchmarks/bench_train.py [--repeat 3] [--epochs 4]

A (cnnrun): `training.prepare` + `training.run` into a temporary run folder: the tf.data
pipeline, per-epoch history, summary, last weights, best weights on improvement, curves.
B (hand-written): the same model built from the same config, `model.fit(x, y,
validation_split=0.2, callbacks=[ModelCheckpoint(..., save_best_only=True)])` on NumPy
arrays scaled to [0, 1]. Both train on the same training images (the source's own test split
held out) and validate on 20% of them. Reported: training samples per second over the median
epoch, measured from one epoch's start to the next (validation, checkpoint writes and every
callback included), the first epoch (graph tracing) left out.
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnrun import training  # noqa: E402
from cnnrun.configfile import load_config  # noqa: E402
from cnnrun.console import NullReporter  # noqa: E402
from cnnrun.model import build_model  # noqa: E402
from cnnrun.plan import make_plan  # noqa: E402
from cnnrun.sources import load_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class EpochTimer(keras.callbacks.Callback):
    """Epoch start times: an epoch lasts until the next one starts, checkpoint writes and
    every other callback included, for both paths alike."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.starts.append(time.perf_counter())

    @property
    def times(self) -> list[float]:
        return [b - a for a, b in zip(self.starts, self.starts[1:], strict=False)]


def cnnrun_epochs(plan, tmp: Path) -> tuple[list[float], int]:
    timer = EpochTimer()
    original = training._Recorder.on_epoch_begin

    def timed(self, epoch, logs=None):  # noqa: ANN001, ANN202
        timer.on_epoch_begin(epoch)
        return original(self, epoch, logs)

    training._Recorder.on_epoch_begin = timed
    try:
        prep = training.prepare(plan)
        summary = training.run(prep, tmp / "runs", NullReporter())
    finally:
        training._Recorder.on_epoch_begin = original
    return timer.times, summary["data"]["counts"]["train"]


def keras_epochs(plan, tmp: Path) -> tuple[list[float], int]:
    cfg = plan.config
    keras.utils.set_random_seed(cfg.seed)
    ds, _ = load_dataset(cfg.data, ROOT)
    x = ds.x.astype(np.float32) * ds.scale
    model = build_model(cfg)
    timer = EpochTimer()
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp / "weights.weights.h5"),
        monitor="val_loss",
        save_best_only=True,
        save_weights_only=True,
    )
    model.fit(
        x,
        ds.y,
        epochs=cfg.train.epochs,
        batch_size=cfg.train.batch_size,
        validation_split=cfg.data.validation_split,
        callbacks=[checkpoint, timer],
        verbose=0,
    )
    return timer.times, int(len(x) * (1 - cfg.data.validation_split))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    for config in ("digits.yaml", "mnist5k.yaml"):
        plan = make_plan(
            load_config(
                ROOT / "configs" / config, [f"train.epochs={args.epochs}", "early_stopping=null"]
            )
        )
        rates: dict[str, list[float]] = {"cnnrun": [], "keras": []}
        for _ in range(args.repeat):
            for name, fn in (("cnnrun", cnnrun_epochs), ("keras", keras_epochs)):
                with tempfile.TemporaryDirectory() as tmp:
                    seconds, n = fn(plan, Path(tmp))
                rates[name].append(n / statistics.median(seconds[1:]))  # epoch 1 traces
        ratio = statistics.median(
            a / b for a, b in zip(rates["cnnrun"], rates["keras"], strict=True)
        )
        print(
            f"{config}: {plan.table.total_params:,} parameters, batch "
            f"{plan.config.train.batch_size}, {args.epochs} epochs x {args.repeat}"
        )
        for name, r in rates.items():
            runs = ", ".join(f"{v:.0f}" for v in r)
            print(f"  {name:7s} median {statistics.median(r):7.0f} train samples/s ({runs})")
        print(f"  median ratio cnnrun / hand-written: {ratio:.2f}")


if __name__ == "__main__":
    main()
