"""A run folder and weights file written by cnnrun 0.1 before the rehousing (committed under
tests/fixtures) still list, plot, predict and resume, and load in Python as the README shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "v0.1-run"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / FIXTURE.name
    shutil.copytree(FIXTURE, run)
    return run


def test_an_old_run_lists_and_plots(old_run: Path, cli):
    r = cli("runs", old_run.parent, "--json")
    assert r.code == 0, r.stderr
    (info,) = json.loads(r.stdout)
    assert info["status"] == "completed" and info["best_epoch"] == 2
    r = cli("plot", old_run)
    assert r.code == 0, r.stderr
    assert (old_run / "curves" / "loss.png").stat().st_size > 10_000


@pytest.mark.slow
def test_an_old_weights_file_predicts_and_its_run_resumes(old_run: Path, cli):
    from cnnrun.engine.predict import load_model  # the README's Python snippet

    model, meta = load_model(old_run / "best.weights.h5")
    assert meta["epoch"] == 2 and model.output_shape == (None, 10)
    r = cli("predict", "--run", old_run, "digits:test", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    summary = json.loads((old_run / "summary.json").read_text())
    assert doc["scores"]["accuracy"] == pytest.approx(summary["test"]["test_accuracy"])
    r = cli("train", "--resume", old_run, "--epochs", "3", "--quiet")
    assert r.code == 0, r.stderr
    summary = json.loads((old_run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 3
    # it trained on batchnorm's moving averages, and its resumed epoch keeps them
    assert summary["batchnorm"]["stats"] == "moving"
    assert len((old_run / "history.csv").read_text().splitlines()) == 4
