"""`cnnrun.engine.training`, the fit loop: deterministic runs repeat exactly, and a loss that
becomes NaN fails the run (exit 1) with a loadable best file of finite weights."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.support import only_run

pytestmark = pytest.mark.slow


def test_deterministic_runs_give_identical_history(cli, tiny_config, tmp_path: Path):
    cfg = tiny_config(epochs=2, extra="deterministic: true\n")
    histories = []
    for name in ("a", "b"):
        assert cli("train", cfg, "--runs-dir", tmp_path / name).code == 0
        with open(only_run(tmp_path / name) / "history.csv") as f:
            rows = list(csv.DictReader(f))
        histories.append([{k: v for k, v in r.items() if k != "seconds"} for r in rows])
    assert histories[0] == histories[1]


def test_nan_loss_fails_with_exit_1_and_keeps_a_loadable_best_file(cli, tiny_config, tmp_path):
    runs = tmp_path / "runs"
    r = cli(
        "train",
        tiny_config(epochs=3),
        "--runs-dir",
        runs,
        "--set",
        "train.optimizer={name: sgd, learning_rate: 1e38}",
    )
    assert r.code == 1
    assert "NaN" in r.stderr
    run = only_run(runs)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "NaN" in summary["reason"]
    assert summary["diagnosis"]["verdict"] == "diverged"
    from cnnrun.engine.predict import load_model

    model, meta = load_model(run / "best.weights.h5")
    assert meta["epoch"] == 0  # the untrained weights: no epoch beat them
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert (run / "curves" / "loss.png").is_file()
