"""Trials per minute: a search's workers against one process per trial.

Usage:
    python benchmarks/bench_search.py [--trials 20] [--epochs 3] [--jobs 1]

Runs a `--trials` digits search (learning rate and a dropout rate, random sampler, no
pruning, so every trial trains all its epochs) with `cnnrun search --jobs J`, then trains the
same trials' values again as one `cnnrun train` process per trial, J at a time. For each it
reports the wall time, the trials per minute, and the overhead per trial: the wall time less
the epoch seconds the trials' `history.csv` files record, divided by the trials (times the
workers, for J of them). Not a test: results go to benchmarks/RESULTS.md with the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cli import cpu

CONFIG = """\
name: bench-search
seed: 1
data: {{source: digits}}
model:
  layers:
    - conv2d: {{filters: 16, kernel_size: 3, activation: relu, padding: same}}
    - maxpool2d: {{pool_size: 2}}
    - dropout: {{rate: 0.25}}
    - flatten: {{}}
    - dense: {{units: 10, activation: softmax}}
train: {{epochs: {epochs}, batch_size: 32, precision: float32}}
search:
  space:
    train.optimizer.learning_rate: {{low: 0.0003, high: 0.03, log: true}}
    model.layers[2].dropout.rate: {{low: 0.0, high: 0.5}}
  trials: {trials}
  sampler: random
  pruner: none
"""
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def epoch_seconds(run_dirs: list[Path]) -> float:
    total = 0.0
    for d in run_dirs:
        with open(d / "history.csv", newline="") as f:
            total += sum(float(row["seconds"]) for row in csv.DictReader(f))
    return total


def cnnrun(*args: object, env: dict[str, str] = ENV) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "cnnrun", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=True)


def one_process_each(cfg: Path, trials: list[dict], runs: Path, jobs: int) -> float:
    """Wall seconds to train every trial's values as its own `cnnrun train` process."""

    from cnnrun.app.launch import thread_env

    env = {**ENV, **thread_env(jobs)} if jobs > 1 else ENV  # as the search's workers get

    def train(t: dict) -> None:
        sets = [f"--set={k}={json.dumps(v)}" for k, v in t["params"].items()]
        cnnrun("train", cfg, "--runs-dir", runs, "--name", t["run_name"], "--quiet", *sets, env=env)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(train, trials))
    return time.perf_counter() - t0


def report(name: str, wall: float, epochs: float, n: int, jobs: int) -> None:
    overhead = (wall * jobs - epochs) / n
    print(
        f"{name:<28} {wall:7.1f} s  {n / wall * 60:6.1f} trials/min  "
        f"epochs {epochs:6.1f} s  overhead {overhead:5.2f} s/trial"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {cpu()}; {os.cpu_count()} cores")
    print(f"{args.trials} digits trials of {args.epochs} epochs, {args.jobs} at a time")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "search.yaml"
        cfg.write_text(CONFIG.format(epochs=args.epochs, trials=args.trials))
        t0 = time.perf_counter()
        r = cnnrun("search", cfg, "--jobs", args.jobs, "--runs-dir", Path(tmp) / "s", "--json")
        wall = time.perf_counter() - t0
        trials = json.loads(r.stdout)["trials"]
        report(
            "cnnrun search (workers)",
            wall,
            epoch_seconds([Path(t["run_dir"]) for t in trials]),
            len(trials),
            args.jobs,
        )
        runs = Path(tmp) / "p"
        wall = one_process_each(cfg, trials, runs, args.jobs)
        report(
            "one process per trial",
            wall,
            epoch_seconds([d for d in runs.iterdir() if d.is_dir()]),
            len(trials),
            args.jobs,
        )


if __name__ == "__main__":
    main()
