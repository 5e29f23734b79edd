"""`cnnrun.engine.distribute`, training on one machine: `mirrored` over two logical CPU
devices, and `multi_worker` with two worker processes on 127.0.0.1 sharing one run folder; a
dead worker stops the other with a message, not a hang."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support import CONFIGS

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

# Two replicas see each global batch in halves and average their gradients: the same math
# as one device up to float rounding, and up to batchnorm's per-replica statistics (0.003
# apart on the digits network at 2 epochs, measured).
TOLERANCE = 0.05


def _train(cfg: Path, runs: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnrun",
            "train",
            str(cfg),
            "--runs-dir",
            str(runs),
            "--json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def _single_process_val_accuracy(cli, cfg: Path, runs: Path, *extra: str) -> float:
    r = cli("train", cfg, "--runs-dir", runs, "--json", *extra)
    assert r.code == 0, r.stderr
    return json.loads(r.stdout)["best_metrics"]["val_accuracy"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mirrored_over_two_logical_cpus(digits_run, tmp_path: Path):
    # the shared digits run is this config trained in one process: the single-device answer
    cfg = digits_run.config
    proc = _train(
        cfg, tmp_path / "mirrored", "--set", "distribute=mirrored", env={"CNNRUN_LOGICAL_CPUS": "2"}
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed"
    assert summary["distribute"] == {"strategy": "mirrored", "replicas": 2}
    assert (Path(summary["run_dir"]) / "best.weights.h5").stat().st_size > 0
    single = json.loads((digits_run.path / "summary.json").read_text())["best_metrics"]
    assert summary["best_metrics"]["val_accuracy"] == pytest.approx(
        single["val_accuracy"], abs=TOLERANCE
    )


def test_multi_worker_two_processes_one_run_folder(cli, tmp_path: Path):
    # The quick-start digits network, 2 epochs. Its batchnorm keeps statistics per replica,
    # so two workers differ from one process by a little more than rounding.
    cfg = CONFIGS / "digits.yaml"
    epochs = ("--set", "train.epochs=2")
    runs = tmp_path / "runs"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    workers = f"127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}"
    scratch_before = set(Path(tempfile.gettempdir()).glob("cnnrun-worker-*"))
    procs = [
        _train(
            cfg, runs, *epochs, "--workers", workers, "--worker-index", str(i), "--mlflow", store
        )
        for i in (0, 1)
    ]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=150))
        finally:
            p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    chief, worker = (json.loads(o) for o, _ in outs)
    assert chief["status"] == "completed" and chief["distribute"]["replicas"] == 2
    assert worker["run_dir"] is None and worker["worker"] == "worker 1"
    (run_dir,) = runs.iterdir()  # only the chief's folder
    assert str(run_dir) == chief["run_dir"]
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2
    assert set(Path(tempfile.gettempdir()).glob("cnnrun-worker-*")) == scratch_before
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    (tracked,) = client.search_runs([client.get_experiment_by_name("cnnrun").experiment_id])
    assert tracked.info.run_id == chief["tracking"]["mlflow"]["run_id"]  # the chief alone
    assert len(client.get_metric_history(tracked.info.run_id, "val_loss")) == 2
    single = _single_process_val_accuracy(cli, cfg, tmp_path / "single", *epochs)
    assert chief["best_metrics"]["val_accuracy"] == pytest.approx(single, abs=TOLERANCE)
    # every worker computed the same validation on the same weights
    assert worker["best_metrics"]["val_accuracy"] == pytest.approx(
        chief["best_metrics"]["val_accuracy"], abs=1e-6
    )


def test_a_dead_worker_stops_the_other_with_a_message(tmp_path: Path):
    from cnnrun.engine.distribute import COLLECTIVE_TIMEOUT_S

    cfg = CONFIGS / "digits.yaml"
    runs = tmp_path / "runs"
    workers = f"127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}"
    args = ("--set", "train.epochs=200", "--workers", workers, "--worker-index")
    chief = _train(cfg, runs, *args, "0")
    other = _train(cfg, runs, *args, "1")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill worker 1 once training is under way
            if any(
                json.loads(s.read_text()).get("epochs_run") for s in runs.glob("*/summary.json")
            ):
                break
            time.sleep(0.2)
        other.kill()
        killed = time.monotonic()
        _, err = chief.communicate(timeout=180)
        waited = time.monotonic() - killed
    finally:
        chief.kill()
        other.kill()
    assert chief.returncode == 1, err
    assert "lost contact with another worker" in err and "Traceback" not in err
    assert waited < COLLECTIVE_TIMEOUT_S + 30  # a clear failure, not a hang
    (summary,) = runs.glob("*/summary.json")
    assert json.loads(summary.read_text())["status"] == "failed"
