"""`cnnrun train` through the CLI on the built-in digits: files, best weights, exit codes."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from cnnrun.runs.folder import create_run_dir

pytestmark = pytest.mark.slow


def only_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def test_train_writes_a_complete_run_folder(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    r = cli("train", tiny_config(epochs=3), "--runs-dir", runs)
    assert r.code == 0, r.stderr
    run = only_run(runs)
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
    # one plain line per epoch off a terminal, then the run folder and the best epoch
    lines = r.stdout.splitlines()
    assert sum(ln.startswith("epoch ") for ln in lines) == 3
    assert f"run folder: {run}" in r.stdout and "best epoch" in r.stdout

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
    assert resolved["train"]["precision"] == "float32"  # the tests pin it (conftest.py)
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


def _evaluate_best_on_validation(run: Path) -> float:
    """Rebuild from the weights file's own metadata and score the recorded validation split."""
    from cnnrun.config.schema import Config
    from cnnrun.data.sources import load_dataset
    from cnnrun.data.splits import split_dataset
    from cnnrun.engine.pipeline import pipeline
    from cnnrun.engine.predict import load_model

    model, meta = load_model(run / "best.weights.h5", compile=True)
    cfg = Config.model_validate(meta["config"])
    ds, _ = load_dataset(cfg.data, run)
    s = split_dataset(ds, cfg.data, cfg.seed)
    assert meta["preprocessing"]["scale"] == s.scale
    val = pipeline(
        s.x_val,
        s.y_val,
        s.scale,
        cfg.train.batch_size,
        loss=cfg.train.loss,
        num_classes=len(s.class_names),
    )
    return float(model.evaluate(val, verbose=0, return_dict=True)["loss"])


def test_best_file_holds_the_best_epoch_not_the_last(cli, tiny_config, tmp_path: Path):
    # Monitoring val_loss with mode max makes the *worst* epoch "best": the file must hold that
    # epoch, which is not the last, and give back its recorded val_loss.
    runs = tmp_path / "runs"
    cfg = tiny_config(epochs=3, extra="checkpoint: {monitor: val_loss, mode: max}\n")
    assert cli("train", cfg, "--runs-dir", runs).code == 0
    run = only_run(runs)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_epoch"] != 3
    assert abs(_evaluate_best_on_validation(run) - summary["best_value"]) < 1e-5

    runs2 = tmp_path / "runs2"
    assert cli("train", tiny_config(epochs=3), "--runs-dir", runs2).code == 0
    run = only_run(runs2)
    summary = json.loads((run / "summary.json").read_text())
    assert abs(_evaluate_best_on_validation(run) - summary["best_value"]) < 1e-5


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


def test_fail_under_gates(cli, tiny_config, tmp_path: Path):
    cfg = tiny_config(epochs=1)
    r = cli("train", cfg, "--runs-dir", tmp_path / "a", "--fail-under", "test_accuracy=0.999")
    assert r.code == 1 and "gate failed: test_accuracy" in r.stderr
    r = cli(
        "train", cfg, "--runs-dir", tmp_path / "b", "--fail-under", "val_accuracy=0.01", "--json"
    )
    assert r.code == 0
    assert json.loads(r.stdout)["status"] == "completed"  # --json: only the summary on stdout
    r = cli("train", cfg, "--runs-dir", tmp_path / "c", "--fail-under", "val_acc=0.5")
    assert r.code == 2 and "cannot gate on val_acc" in r.stderr
    assert not (tmp_path / "c").exists()


def test_two_runs_in_the_same_second_get_two_folders(tmp_path: Path):
    now = datetime(2026, 11, 27, 10, 15, 3)
    a = create_run_dir(tmp_path, "x", now)
    b = create_run_dir(tmp_path, "x", now)
    assert a != b and a.name == "2026-11-27T10-15-03_x" and b.name == "2026-11-27T10-15-03_x-2"


def test_concurrent_processes_get_distinct_folders(tmp_path: Path):
    import multiprocessing as mp

    now = datetime(2026, 11, 27, 10, 15, 3)
    with mp.get_context("spawn").Pool(4) as pool:
        made = pool.starmap(create_run_dir, [(tmp_path, "same", now)] * 8)
    assert len(set(made)) == 8


def test_quiet_prints_nothing_and_plot_redraws(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    cfg = tiny_config(epochs=2, extra="logging: {tensorboard: true}\n")
    r = cli("train", cfg, "--runs-dir", runs, "--quiet")
    assert r.code == 0 and r.stdout == ""
    run = only_run(runs)
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    (run / "curves" / "loss.png").unlink()
    r = cli("plot", run)
    assert r.code == 0 and (run / "curves" / "loss.png").stat().st_size > 10_000
    r = cli("plot", run, run, "-o", tmp_path / "overlay.svg")
    assert r.code == 0 and (tmp_path / "overlay.svg").read_text().startswith("<?xml")
    r = cli("plot", tmp_path)
    assert r.code == 2 and "is not a run folder" in r.stderr


def test_history_values_are_exact_floats(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    cli("train", tiny_config(epochs=1), "--runs-dir", runs)
    run = only_run(runs)
    summary = json.loads((run / "summary.json").read_text())
    with open(run / "history.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["val_loss"]) == summary["best_value"]
    assert math.isfinite(float(row["seconds"]))


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


def test_best_file_is_what_keras_writes_without_the_optimizer(cli, tiny_config, tmp_path: Path):
    import h5py
    import keras

    from cnnrun.engine.model import build_model
    from cnnrun.engine.predict import config_from_metadata
    from cnnrun.runs.weights import read_metadata

    assert cli("train", tiny_config(epochs=2), "--runs-dir", tmp_path / "runs", "-q").code == 0
    (run,) = (tmp_path / "runs").iterdir()
    best = run / "best.weights.h5"
    model = build_model(config_from_metadata(best, read_metadata(best)))
    model.optimizer.build(model.trainable_variables)
    keras.saving.save_weights(model, tmp_path / "k.weights.h5", objects_to_skip=[model.optimizer])

    def datasets(path: Path) -> dict[str, tuple]:
        found: dict[str, tuple] = {}
        with h5py.File(path) as f:
            f.visititems(
                lambda name, obj: (
                    found.update({name: obj.shape}) if isinstance(obj, h5py.Dataset) else None
                )
            )
        return found

    assert datasets(best) == datasets(tmp_path / "k.weights.h5")
    with h5py.File(run / "last.weights.h5") as f:
        assert "optimizer" in f  # the last file keeps the optimizer's state, for --resume
