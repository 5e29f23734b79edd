"""`cnnrun.app.train`, the training use case: the run folder it leaves (config, summary,
history, both weights files, curves) and the refusals that come before TensorFlow."""

from __future__ import annotations

import csv
import json

import h5py
import pytest
import yaml

from tests.support import DIGITS, refused


@pytest.mark.slow
def test_train_writes_a_complete_run_folder(digits_run):
    run = digits_run.path
    assert run.name.endswith("_tiny")
    for name in (
        "config.yaml",
        "summary.json",
        "history.csv",
        "best.weights.h5",
        "last.weights.h5",
        "curves/loss.png",
        "curves/accuracy.png",
    ):
        assert (run / name).is_file(), name

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 3
    assert summary["data"]["counts"] == {"train": 1151, "validation": 287, "test": 359}
    assert set(summary["test"]) == {"test_loss", "test_accuracy"}
    assert summary["diagnosis"]["verdict"] in {"underfitting", "converged", "overfitting"}
    assert set(summary["versions"]) >= {"python", "tensorflow", "keras", "cnnrun"}

    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["train"]["optimizer"] == {
        "name": "adam",
        "learning_rate": 0.001,
        "momentum": None,
        "nesterov": False,
        "weight_decay": None,
        "clipnorm": None,
    }
    assert resolved["train"]["precision"] == "float32"  # the tests pin it (tests/support)
    assert resolved["model"]["input_shape"] == [8, 8, 1]

    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "epoch",
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "lr",
        "seconds",
    ]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]

    with h5py.File(run / "best.weights.h5") as f:
        meta = {k: f.attrs[k] for k in f.attrs}
        assert "optimizer" not in f  # the optimizer state lives in last.weights.h5
    assert json.loads(meta["cnnrun_class_names"]) == [str(i) for i in range(10)]
    assert int(meta["cnnrun_epoch"]) == summary["best_epoch"]


def test_a_run_name_too_long_is_refused_before_tensorflow(cli, tmp_path):
    refused(cli("train", DIGITS, "--name", "x" * 300, "--runs-dir", tmp_path), "--name", "300")
    assert not any(tmp_path.iterdir())
