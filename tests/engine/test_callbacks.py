"""`cnnrun.engine.callbacks`: early stopping and a reduce-on-plateau schedule from the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import only_run

pytestmark = pytest.mark.slow


def test_early_stopping_and_lr_schedule(cli, tiny_config, tmp_path: Path):
    extra = "early_stopping: {patience: 0, min_delta: 10.0}\ncheckpoint: {monitor: val_loss}\n"
    cfg = tiny_config(epochs=3, extra=extra)
    runs = tmp_path / "runs"
    r = cli(
        "train",
        cfg,
        "--runs-dir",
        runs,
        "--set",
        "train.lr_schedule={name: reduce_on_plateau, factor: 0.5, patience: 0}",
    )
    assert r.code == 0, r.stderr
    summary = json.loads((only_run(runs) / "summary.json").read_text())
    assert summary["epochs_run"] == 2  # no epoch can improve val_loss by 10
    assert summary["status"] == "completed"
