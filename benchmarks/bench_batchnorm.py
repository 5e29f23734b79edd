"""What precise batchnorm statistics cost, and how close a sample's are to the whole set's.

Usage:
    python benchmarks/bench_batchnorm.py [--epochs 5] [--batches 4,8,16,32]

For the quick start (digits) and the ablation's dropout-before-bn network (mnist5k), trains
`--epochs` epochs with `train.batchnorm_stats: precise`, then on the trained network:
the seconds one recomputation takes for each sample size against the run's median epoch,
and the largest relative difference between a sample's statistics and those over every
training image (the mean by sqrt(variance + epsilon), the variance by variance + epsilon:
the scale batchnorm divides by).
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
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_cli import cpu  # noqa: E402

from cnnrun.config.load import load_config  # noqa: E402
from cnnrun.engine import prepare, training  # noqa: E402
from cnnrun.engine.precise_bn import (  # noqa: E402
    PreciseBatchNorm,
    batchnorm_layers,
    population_statistics,
    sample_images,
    sums_of,
)
from cnnrun.plan import make_plan  # noqa: E402
from cnnrun.runs.events import NullReporter  # noqa: E402

CASES = {
    "digits.yaml": (ROOT / "configs" / "digits.yaml", []),
    "ablation dropout-before-bn (mnist5k)": (
        ROOT / "configs" / "ablation-dropout-bn.yaml",
        [
            "model.layers=[{conv2d: {filters: 32, kernel_size: 3}}, {maxpool2d: {pool_size: 2}}, "
            "{conv2d: {filters: 64, kernel_size: 3}}, {maxpool2d: {pool_size: 2}}, flatten, "
            "{dense: {units: 64}}, {dropout: 0.5}, {batchnorm: {momentum: 0.9}}, "
            "{dense: {units: 10, activation: softmax}}]"
        ],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batches", default="4,8,16,32")
    args = parser.parse_args()
    sizes = [int(b) for b in args.batches.split(",")]
    print(f"machine: {cpu()}")
    for label, (path, sets) in CASES.items():
        plan = make_plan(
            load_config(
                path, [*sets, f"train.epochs={args.epochs}", "train.batchnorm_stats=precise"]
            )
        )
        prep = prepare.prepare(plan)
        summary = training.run(prep, Path(tempfile.mkdtemp()), NullReporter())
        epoch_s = summary.timings.median_epoch_s
        bs, seed, model = plan.config.train.batch_size, plan.config.seed, prep.model
        x, scale = prep.splits.x_train, prep.splits.scale
        every = sample_images(x, scale, len(x), 1, seed)
        probes = [(bn, sums_of(model, bn)) for bn in batchnorm_layers(model)]
        truth = [population_statistics(f, every, bs) for _, f in probes]
        print(f"{label}: {len(x)} training images, batch {bs}, median epoch {epoch_s:.3f} s")
        for batches in sizes:
            images = sample_images(x, scale, batches, bs, seed)
            cb = PreciseBatchNorm(images, bs, plan.config.model.layers)
            cb.set_model(model)
            cb.recompute()  # traces once
            t = time.perf_counter()
            for _ in range(5):
                cb.recompute()
            cost = (time.perf_counter() - t) / 5
            worst = 0.0
            for (bn, f), (mean, var) in zip(probes, truth, strict=True):
                m, v = population_statistics(f, images, bs)
                # relative to what batchnorm divides by, sqrt(variance + epsilon): dead units
                # (variance 0) then do not read as infinite differences
                scale2 = var + bn.epsilon
                worst = max(
                    worst,
                    float(np.max(np.abs(m - mean) / np.sqrt(scale2))),
                    float(np.max(np.abs(v - var) / scale2)),
                )
            print(
                f"  {batches:3d} batches ({len(images):5d} images): {cost * 1000:7.1f} ms = "
                f"{cost / epoch_s:6.1%} of an epoch; largest relative difference {worst:.2%}"
            )


if __name__ == "__main__":
    main()
