"""`cnnrun.engine.model`: the learning-rate schedules per epoch (a cosine one resumed midway
equals the uninterrupted run) and label smoothing on sparse labels."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from tests.support import only_run
from tests.support.training import assert_same_run, history, resnet_config, start_train


def test_cosine_schedule_resumed_midway_equals_the_uninterrupted_run(cli, tmp_path):
    cfg = resnet_config(tmp_path, epochs=4)
    assert cli("train", cfg, "--runs-dir", tmp_path / "ref", "--quiet").code == 0
    reference = only_run(tmp_path / "ref")
    lrs = [float(row["lr"]) for row in history(reference)]
    assert lrs[0] == pytest.approx(0.05) and lrs[1] > lrs[2] > lrs[3] == pytest.approx(0.0)
    proc = start_train(cfg, tmp_path / "runs")
    for line in proc.stdout:  # plain mode: one line per epoch
        if line.startswith("epoch 2/"):
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    run = only_run(tmp_path / "runs")
    assert json.loads((run / "summary.json").read_text())["epochs_run"] < 4
    r = cli("train", "--resume", run, "--quiet")
    assert r.code == 0, r.stderr
    assert_same_run(reference, run)


def test_step_and_exponential_schedules_per_epoch(cli, tiny_config, tmp_path):
    for schedule, expect in (
        ("{name: step, step_epochs: 2, factor: 0.5}", [1e-3, 5e-4, 5e-4]),
        ("{name: exponential, decay_rate: 0.5}", [5e-4, 2.5e-4, 1.25e-4]),
    ):
        runs = tmp_path / schedule.split(",")[0][7:]
        r = cli(
            "train",
            tiny_config(3),
            "--runs-dir",
            runs,
            "--quiet",
            "--set",
            f"train.lr_schedule={schedule}",
        )
        assert r.code == 0, r.stderr
        assert [float(row["lr"]) for row in history(only_run(runs))] == pytest.approx(expect)


def test_sparse_label_smoothing_equals_one_hot_categorical():
    import keras

    from cnnrun.engine.model import SparseSmoothedCrossentropy

    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 16)
    p = rng.dirichlet(np.ones(5), 16).astype("float32")
    logits = rng.normal(size=(16, 5)).astype("float32")
    for smoothing in (0.0, 0.1, 0.3):
        onehot = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        assert float(SparseSmoothedCrossentropy(smoothing)(y, p)) == pytest.approx(
            float(onehot(np.eye(5)[y], p)), rel=1e-6
        )
        onehot = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
        assert float(SparseSmoothedCrossentropy(smoothing, True)(y, logits)) == pytest.approx(
            float(onehot(np.eye(5)[y], logits)), rel=1e-6
        )


def test_a_warm_up_as_long_as_the_run_is_clipped_to_leave_its_decay():
    """`--set train.epochs=1` on a config with a one-epoch warm-up (CI's smoke test)."""
    from cnnrun.config.schema import Config
    from cnnrun.engine.model import learning_rate

    cfg = Config.model_validate(
        {
            "data": {"source": "digits"},
            "model": {"layers": ["flatten", {"dense": {"units": 10}}]},
            "train": {"epochs": 1, "lr_schedule": {"name": "cosine", "warmup_epochs": 1}},
        }
    )
    schedule = learning_rate(cfg, steps_per_epoch=10)
    lr = cfg.train.optimizer.learning_rate
    assert float(schedule(0)) == pytest.approx(lr)  # no warm-up: the decay from the start
    assert float(schedule(9)) < lr
