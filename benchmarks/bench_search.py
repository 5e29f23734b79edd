"""Trials per minute and cnnrun's overhead per trial, on each Optuna storage.

Usage:
    python benchmarks/bench_search.py [--trials 20] [--epochs 3] [--jobs 1]
        [--storage journal --storage sqlite --storage postgresql] [--per-process]

Runs a `--trials` digits search (learning rate and a dropout rate, random sampler, no
pruning, so every trial trains all its epochs) with `cnnrun search --jobs J` on each
`--storage`: the journal file in the search folder, a SQLite file, and a PostgreSQL server
this script starts on a Unix socket (tests/support/postgres.py). For each it reports the wall
time, the trials per minute, and the overhead per trial: the wall time less the epoch seconds
the trials' `history.csv` files record, divided by the trials (times the workers, for J of
them). It then times the study's own part of that overhead alone: a worker taking a trial
(dead ones checked, finished runs settled, the count), keeping a run's summary, history and
config on it, and telling it, with no training between (`--trials` times, on a fresh study
per storage). `--per-process` also trains the same trials' values as one `cnnrun train`
process each. Not a test: results go to benchmarks/RESULTS.md with the machine.
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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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


@contextmanager
def storage_url(kind: str, tmp: Path) -> Iterator[str | None]:
    """The `--storage` of each kind: None for the journal file in the search folder."""
    if kind == "journal":
        yield None
    elif kind == "sqlite":
        yield f"sqlite:///{tmp / 'study.db'}"
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.postgres import postgres_server

        with postgres_server() as url:
            yield url


def study_only(url: str | None, folder: Path, run_dir: Path, n: int) -> float:
    """Seconds per trial of the worker's study calls alone: take, keep the run's records,
    tell; `n` times on a fresh study, with no training between."""
    import optuna

    from cnnrun.app.study import records
    from cnnrun.app.study.storage import open_storage
    from cnnrun.app.study.worker import Job, _take, _tell
    from cnnrun.app.workers import TrialOutcome
    from cnnrun.runs.summary import read_summary

    store = open_storage(folder, url)
    study = optuna.create_study(study_name=f"overhead-{folder.name}", storage=store)
    job = Job(folder, lambda trial: None, n, lambda study, number: "")  # type: ignore[arg-type]
    summary = read_summary(run_dir)
    t0 = time.perf_counter()
    for _ in range(n):
        with ExitStack() as stack:
            trial = _take(study, store, job, stack)
            trial.set_user_attr("run_dir", str(run_dir))
            _tell(study, trial, TrialOutcome(0, summary))
    assert records.summary_of(study.trials[-1]) is not None
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--storage", action="append", choices=("journal", "sqlite", "postgresql"))
    ap.add_argument("--per-process", action="store_true")
    args = ap.parse_args()
    print(f"machine: {cpu()}; {os.cpu_count()} cores")
    print(f"{args.trials} digits trials of {args.epochs} epochs, {args.jobs} at a time")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "search.yaml"
        cfg.write_text(CONFIG.format(epochs=args.epochs, trials=args.trials))
        for kind in args.storage or ["journal"]:
            with storage_url(kind, Path(tmp)) as url:
                where = ["--storage", url] if url else []
                runs_dir = Path(tmp) / f"s-{kind}"
                t0 = time.perf_counter()
                r = cnnrun(
                    "search", cfg, "--jobs", args.jobs, "--runs-dir", runs_dir, *where, "--json"
                )
                wall = time.perf_counter() - t0
                trials = json.loads(r.stdout)["trials"]
                run_dirs = [Path(t["run_dir"]) for t in trials]
                report(
                    f"cnnrun search ({kind})", wall, epoch_seconds(run_dirs), len(trials), args.jobs
                )
                folder = Path(tmp) / f"o-{kind}"
                folder.mkdir()
                each = study_only(url, folder, run_dirs[0], args.trials)
                print(f"{'  study calls alone':<28} {each * 1000:7.1f} ms/trial")
        if not args.per_process:
            return
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
