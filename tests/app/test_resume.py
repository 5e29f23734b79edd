"""`cnnrun train --resume` (cnnrun.app.resume): a resumed run equals the uninterrupted one bit
for bit, after a clean stop or a SIGKILL at any moment; a changed config or data is refused
unless forced; the best file of the whole history is kept."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.support import only_run, run_cli
from tests.support.training import assert_same_run, det_config, metrics, start_train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted 4-epoch deterministic run every resumed run must equal."""
    tmp = tmp_path_factory.mktemp("reference")
    assert run_cli("train", det_config(tmp), "--runs-dir", tmp / "runs", "--quiet").code == 0
    return only_run(tmp / "runs")


def test_resume_is_bit_identical(reference: Path, cli, tmp_path: Path):
    cfg = det_config(tmp_path, epochs=2)
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet").code == 0
    run = only_run(tmp_path / "runs")
    r = cli("train", "--resume", run, "--epochs", "4")
    assert r.code == 0, r.stderr
    assert "resuming" in r.stdout and "epoch 3/4" in r.stdout
    assert_same_run(reference, run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 4
    # a completed run: nothing to do, nothing changed
    before = (run / "summary.json").read_text()
    r = cli("train", "--resume", run)
    assert r.code == 0 and "nothing to do" in r.stdout
    assert (run / "summary.json").read_text() == before


def test_resume_refuses_another_config_or_data(cli, tmp_path: Path):
    x = np.random.default_rng(0).integers(0, 255, (60, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(60) % 3)
    cfg = tmp_path / "npz.yaml"
    cfg.write_text(
        "data: {source: npz, path: d.npz}\nmodel:\n  layers:\n    - flatten\n"
        "    - dense: {units: 3, activation: softmax}\ntrain: {epochs: 1}\n"
    )
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet").code == 0
    run = only_run(tmp_path / "runs")
    r = cli("train", "--resume", run, "--epochs", "2", "--set", "train.optimizer.learning_rate=0.1")
    assert r.code == 2
    assert "train.optimizer.learning_rate: the run has 0.001, the new config 0.1" in r.stderr
    assert "--force" in r.stderr
    r = cli("train", cfg, "--resume", run, "--epochs", "2", "--set", "train.batch_size=8")
    assert r.code == 2 and "train.batch_size" in r.stderr
    np.savez(tmp_path / "d.npz", x=x[::-1], y=np.arange(60) % 3)  # the data changed
    r = cli("train", "--resume", run, "--epochs", "2")
    assert r.code == 2 and "the data differs" in r.stderr
    r = cli("train", "--resume", run, "--epochs", "2", "--force", "--quiet")
    assert r.code == 0, r.stderr
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == 2
    assert cli("train", "--resume", tmp_path).code == 2  # not a run folder


def test_resume_never_replaces_a_better_best_file(cli, tmp_path: Path):
    # mode max on val_loss makes an early epoch "best"; later epochs are all worse, so after
    # the resume the best file must still hold the best epoch of the whole history
    cfg = det_config(tmp_path, epochs=2, extra="checkpoint: {monitor: val_loss, mode: max}\n")
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet").code == 0
    run = only_run(tmp_path / "runs")
    assert cli("train", "--resume", run, "--epochs", "4", "--quiet").code == 0
    losses = [float(r["val_loss"]) for r in metrics(run)]
    with h5py.File(run / "best.weights.h5") as f:
        epoch = int(f.attrs["cnnrun_epoch"])
    assert len(losses) == 4 and epoch == int(np.argmax(losses)) + 1 and epoch <= 2


def test_sigkill_at_random_moments_then_resume_equals_the_uninterrupted_run(
    reference: Path, cli, tmp_path: Path
):
    from cnnrun.engine.predict import load_model

    rng = random.Random(1127)
    cfg = det_config(tmp_path)
    for trial in range(2):  # two kills at random moments; more add time, not cases
        runs = tmp_path / f"runs{trial}"
        # a slow save makes a kill land inside checkpoint writes much of the time
        proc = start_train(cfg, runs, "--quiet", slow_saves=True)
        deadline = time.monotonic() + 60
        while not any(runs.glob("*/last.weights.h5")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        proc.kill()
        proc.wait()
        run = only_run(runs)
        load_model(run / "best.weights.h5")  # loads: never torn
        assert json.loads((run / "summary.json").read_text())["status"] == "running"
        r = cli("train", "--resume", run, "--quiet")  # in this process: one start less
        assert r.code == 0, r.stderr
        assert not list(run.glob(".*tmp*"))  # resume cleans what the kill left half-written
        assert_same_run(reference, run)
