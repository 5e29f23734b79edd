"""Peak memory of cnnrun's HDF5 input path against the file's size: it must stay flat.

Usage:
    python benchmarks/bench_hdf5_memory.py [--sizes-gb 0.25 2] [--dir /tmp]

For each size, writes an HDF5 file of random 32x32x3 uint8 images with labels, then, in a
fresh process, loads it as cnnrun's `hdf5` source does (labels whole, images lazily), splits
it, and streams one full training epoch and one validation pass through the same tf.data
pipeline `cnnrun train` uses, and reports that process's peak RSS. (The model adds a constant
on top, the same for every file size.)
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

IMAGE = (32, 32, 3)
CHILD = """
import os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from pathlib import Path
from cnnrun.config.schema import Config
from cnnrun.engine.pipeline import load_splits, pipeline
cfg = Config.model_validate({"data": {"source": "hdf5", "path": sys.argv[1]},
    "model": {"layers": [{"flatten": {}}, {"dense": {"units": 10, "activation": "softmax"}}]}})
t = time.perf_counter()
s = load_splits(cfg, Path("."))
n = 0
for ds, seed in ((pipeline(s.x_train, s.y_train, s.scale, 512, loss=cfg.train.loss,
                           num_classes=10, shuffle_seed=1), 1),
                 (pipeline(s.x_val, s.y_val, s.scale, 512, loss=cfg.train.loss,
                           num_classes=10), None)):
    for xb, yb in ds:
        n += int(xb.shape[0])
print(n, round(time.perf_counter() - t, 1), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write(path: Path, gigabytes: float) -> int:
    n = int(gigabytes * 1e9 / np.prod(IMAGE))
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        x = f.create_dataset("x", (n, *IMAGE), dtype=np.uint8, chunks=(256, *IMAGE))
        for i in range(0, n, 20_000):
            m = min(20_000, n - i)
            x[i : i + m] = rng.integers(0, 256, (m, *IMAGE), dtype=np.uint8)
        f["y"] = rng.integers(0, 10, n).astype(np.int64)
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-gb", type=float, nargs="+", default=[0.25, 2.0])
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("| file size | images | images streamed | seconds | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for gb in args.sizes_gb:
        path = Path(args.dir) / f"cnnrun-bench-{gb}gb.h5"
        t = time.perf_counter()
        n = write(path, gb)
        written = time.perf_counter() - t
        try:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
            ).stdout.split()
        finally:
            path.unlink()
        streamed, seconds, rss_kb = int(out[0]), float(out[1]), int(out[2])
        print(
            f"| {gb} GB | {n:,} | {streamed:,} | {seconds} (file written in {written:.0f}) | "
            f"{rss_kb / 1024:.0f} |"
        )


if __name__ == "__main__":
    main()
