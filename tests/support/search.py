"""`cnnrun search` as the tests drive it: a small search config, the command as a child
process, and a process paused in the middle of a trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SEARCH = """\
name: srch
seed: 7
data: {{source: digits}}
model:
  layers:
    - conv2d: {{filters: 4, kernel_size: 3, padding: same}}
    - maxpool2d: {{pool_size: 2}}
    - dropout: {{rate: 0.2}}
    - flatten: {{}}
    - dense: {{units: 10, activation: softmax}}
train: {{epochs: {epochs}, batch_size: 64, precision: float32}}
search:
  trials: {trials}
{search}
"""
LR_DROPOUT = """\
  space:
    train.optimizer.learning_rate: {low: 0.001, high: 0.03, log: true}
    model.layers[2].dropout.rate: {low: 0.0, high: 0.5}
"""
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def search_config(
    tmp_path: Path, search: str = LR_DROPOUT, trials: int = 6, epochs: int = 2
) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(SEARCH.format(search=search, trials=trials, epochs=epochs))
    return path


def cnnrun(*args: object, timeout: int = 300) -> subprocess.CompletedProcess:
    """`cnnrun ARGS...` as a child process, waited for."""
    return subprocess.run(
        [sys.executable, "-m", "cnnrun", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def only(pattern: str, where: Path) -> Path:
    (found,) = list(where.glob(pattern))
    return found


def pause_in_a_trial(proc: subprocess.Popen, search_dir: Path, before: set[str]) -> Path:
    """SIGSTOP `proc` while it trains a new trial (after the folder lock, before the end)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        for d in search_dir.glob("*_trial-*"):
            if str(d) in before or not (d / "history.csv").is_file():
                continue
            proc.send_signal(signal.SIGSTOP)
            if json.loads((d / "summary.json").read_text())["status"] == "running":
                return d
            proc.send_signal(signal.SIGCONT)  # it had just finished that one: the next
            before.add(str(d))
        time.sleep(0.02)
    raise AssertionError("the first process trained no new trial in time")


def ended(results: dict) -> list[dict]:
    """The trials that completed or were pruned."""
    return [t for t in results["trials"] if t["status"] in ("completed", "pruned")]
