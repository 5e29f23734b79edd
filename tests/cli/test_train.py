"""`cnnrun train`'s face (cnnrun.cli.train): a plain line per epoch off a terminal, then the
run folder and the best epoch; `--quiet` prints nothing; `--json` only the summary;
`--fail-under` gates with exit 1, and a gate on a metric the run will not have is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import only_run

pytestmark = pytest.mark.slow


def test_one_plain_line_per_epoch_then_the_run_folder_and_the_best_epoch(digits_run):
    r = digits_run.result
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum(ln.startswith("epoch ") for ln in lines) == 3
    assert f"run folder: {digits_run.path}" in r.stdout and "best epoch" in r.stdout


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


def test_quiet_prints_nothing_and_tensorboard_logs(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    cfg = tiny_config(epochs=2, extra="logging: {tensorboard: true}\n")
    r = cli("train", cfg, "--runs-dir", runs, "--quiet")
    assert r.code == 0 and r.stdout == ""
    run = only_run(runs)
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
