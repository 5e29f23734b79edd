"""Which CPU thread settings train fastest: cnnrun's training path on mnist5k, one fresh
process per trial (thread pools are fixed when TensorFlow starts), settings alternated.

Usage:
    python benchmarks/bench_threads.py [--repeat 3] [--epochs 5]

Each trial reports the median epoch time after the first (tracing) epoch, from the run's
history.csv; settings are TensorFlow's thread-pool environment variables.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "default (TensorFlow picks)": {},
    "intra 2, inter 1": {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1"},
    "intra 1, inter 1": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "intra 2, inter 2": {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"},
}


def trial(env: dict[str, str], epochs: int, tmp: Path) -> float:
    runs = Path(tempfile.mkdtemp(dir=tmp))
    subprocess.run(
        [sys.executable, "-m", "cnnrun", "train", "configs/mnist5k.yaml", "--quiet"]
        + ["--set", f"train.epochs={epochs}", "--set", "early_stopping=null"]
        + ["--runs-dir", str(runs)],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        check=True,
    )
    (history,) = runs.glob("*/history.csv")
    seconds = [float(r["seconds"]) for r in csv.DictReader(history.open())]
    return statistics.median(seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    times: dict[str, list[float]] = {k: [] for k in SETTINGS}
    for _ in range(args.repeat):
        for label, env in SETTINGS.items():
            times[label].append(trial(env, args.epochs, tmp))
    print(f"{os.cpu_count()} CPUs; mnist5k, median epoch seconds per trial, {args.repeat} trials")
    for label, t in times.items():
        runs = ", ".join(f"{v:.2f}" for v in t)
        print(f"  {label:28s} median {statistics.median(t):.2f} s ({runs})")


if __name__ == "__main__":
    main()
