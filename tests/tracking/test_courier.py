"""`cnnrun.tracking.courier`: a tracking server that answers the start-up check and then hangs
never holds training up; what is queued at the end is given a bounded time and noted as
dropped; SIGTERM still ends the run promptly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cnnrun.runs.summary import read_summary
from cnnrun.tracking.courier import STALL_S
from tests.support.http import serving

pytestmark = pytest.mark.slow

EXPERIMENT = {
    "experiment": {
        "experiment_id": "1",
        "name": "cnnrun",
        "artifact_location": "mlflow-artifacts:/1",
        "lifecycle_stage": "active",
    }
}


def _hanging(method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any] | None:
    """Answers the experiment lookup (cnnrun's check and MLflow's), then never answers."""
    return (200, EXPERIMENT) if "experiments/get-by-name" in path else None


@pytest.fixture
def hanging_server() -> Iterator[str]:
    with serving(_hanging) as base:
        yield base


def test_a_server_that_hangs_after_the_start_never_holds_training_up(
    cli, tiny_config, tmp_path: Path, hanging_server: str
):
    cfg = tiny_config(epochs=3)
    t0 = time.perf_counter()
    r = cli("train", cfg, "--runs-dir", tmp_path / "plain", "--json")
    alone = time.perf_counter() - t0
    assert r.code == 0, r.stderr
    t0 = time.perf_counter()
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--mlflow", hanging_server, "--json")
    tracked = time.perf_counter() - t0
    assert r.code == 0, r.stderr
    print(f"alone {alone:.1f} s, tracked by a hanging server {tracked:.1f} s")
    assert tracked < alone * 1.5 + STALL_S + 2, (tracked, alone)
    mlflow = read_summary(Path(json.loads(r.stdout)["run_dir"])).tracking["mlflow"]
    assert "dropped" in mlflow and "no answer in" in mlflow["dropped"], mlflow
    assert mlflow["state"].startswith("failed"), mlflow


def test_sigterm_ends_a_run_promptly_while_its_server_hangs(
    tiny_config, tmp_path: Path, hanging_server: str
):
    cfg = tiny_config(epochs=30)
    argv = [sys.executable, "-m", "cnnrun", "train", str(cfg), "--runs-dir", str(tmp_path)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [*argv, "--mlflow", hanging_server], stdout=subprocess.PIPE, text=True, env=env
    )
    line = ""
    while not line.startswith("epoch 2/"):
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "the run ended before its second epoch"
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert time.perf_counter() - t0 < 5 and proc.returncode == 130
