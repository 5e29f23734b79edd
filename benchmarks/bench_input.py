"""The input pipeline alone against training: can it feed what training consumes?

Usage:
    python benchmarks/bench_input.py [--images 20000] [--batch 128] [--epochs 3]

Writes an HDF5 file of `--images` 28x28x1 uint8 images (mnist5k's shape; chunked by h5py's
default), then times one shuffled epoch of cnnrun's training pipeline (`pipeline`, the same
tf.data path `cnnrun train` uses) from that file, streamed, and from the same images in memory,
with no model: images per second. Then trains `configs/mnist5k.yaml` for `--epochs` epochs at
each of `--precisions` (default: float32 and mixed_bfloat16, what an AMX machine's `auto`
picks) and reports its training samples per second over the median epoch. The pipeline is the
bottleneck where its rate is below training's; the streamed HDF5 rate should be at least
twice the fastest training's.
Not a test: results go to benchmarks/RESULTS.md with the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import h5py
import numpy as np
from bench_cli import cpu

from cnnrun.config.load import load_config
from cnnrun.data.hdf5 import H5Images
from cnnrun.engine import prepare, training
from cnnrun.engine.pipeline import pipeline, steps
from cnnrun.plan import make_plan
from cnnrun.runs.events import NullReporter

ROOT = Path(__file__).resolve().parent.parent


def epoch_rate(x: object, y: np.ndarray, batch: int, repeat: int = 3) -> float:
    """Images per second of the fastest of `repeat` shuffled epochs (after one warm-up)."""
    ds = pipeline(
        x,
        y,
        1 / 255,
        batch,
        loss="sparse_categorical_crossentropy",
        num_classes=10,
        shuffle_seed=1,
        epochs=repeat + 1,
    )
    it = iter(ds)
    n = steps(len(y), batch)
    for _ in range(n):
        next(it)
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            next(it)
        best = max(best, len(y) / (time.perf_counter() - t))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    args = parser.parse_args()
    print(f"machine: {cpu()}")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, args.images)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=x, chunks=True)
            chunks = f["x"].chunks
        streamed = H5Images(path, "x", x.shape, x.dtype)
        print(f"{args.images} images 28x28x1, batch {args.batch}, HDF5 chunks {chunks}")
        print(
            f"  pipeline, HDF5 streamed, shuffled: {epoch_rate(streamed, y, args.batch):8.0f} "
            "images/s"
        )
        print(f"  pipeline, in memory, shuffled:     {epoch_rate(x, y, args.batch):8.0f} images/s")
    for precision in args.precisions.split(","):
        sets = [f"train.epochs={args.epochs}", "early_stopping=null"]
        plan = make_plan(
            load_config(ROOT / "configs" / "mnist5k.yaml", [*sets, f"train.precision={precision}"])
        )
        prep = prepare.prepare(plan)
        with tempfile.TemporaryDirectory() as tmp:
            summary = training.run(prep, Path(tmp), NullReporter())
        epoch = summary.timings.median_epoch_s
        print(
            f"  training mnist5k at {prep.precision['policy']}: "
            f"{summary.data.counts['train'] / epoch:8.0f} samples/s (median epoch {epoch:.2f} s)"
        )
        prepare.release()


if __name__ == "__main__":
    main()
