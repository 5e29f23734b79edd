"""`cnnrun.runs.folder`, the run folder: a name per run however many start in one second or
at once, hostile `--name`s kept inside the runs folder, and history.csv's values written
exactly as the summary has them."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime
from pathlib import Path

import pytest

from cnnrun.runs.folder import create_run_dir
from tests.support.training import start_train


def test_two_runs_in_the_same_second_get_two_folders(tmp_path: Path):
    now = datetime(2026, 11, 27, 10, 15, 3)
    a = create_run_dir(tmp_path, "x", now)
    b = create_run_dir(tmp_path, "x", now)
    assert a != b and a.name == "2026-11-27T10-15-03_x" and b.name == "2026-11-27T10-15-03_x-2"


@pytest.mark.slow
def test_concurrent_processes_get_distinct_folders(tmp_path: Path):
    import multiprocessing as mp

    now = datetime(2026, 11, 27, 10, 15, 3)
    with mp.get_context("spawn").Pool(4) as pool:
        made = pool.starmap(create_run_dir, [(tmp_path, "same", now)] * 8)
    assert len(set(made)) == 8


@pytest.mark.slow
def test_hostile_names_stay_inside_the_runs_folder(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    for name in ("../../escape", "a/b\\\\c", "名前 with spaces", "..", "-rf"):
        r = cli("train", tiny_config(epochs=1), "--runs-dir", runs, "--name", name, "--quiet")
        assert r.code == 0, r.stderr
    made = [p for p in runs.iterdir()]
    assert len(made) == 5 and all(p.parent == runs for p in made)
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.slow
def test_four_concurrent_runs_get_four_complete_folders(tiny_config, tmp_path: Path):
    cfg = tiny_config(epochs=1)
    procs = [start_train(cfg, tmp_path / "runs", "--quiet") for _ in range(4)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    made = sorted((tmp_path / "runs").iterdir())
    assert len(made) == 4
    for run in made:
        assert json.loads((run / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_history_values_are_exact_floats(digits_run):
    run = digits_run.path
    summary = json.loads((run / "summary.json").read_text())
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    best = rows[summary["best_epoch"] - 1]
    assert int(best["epoch"]) == summary["best_epoch"]
    assert float(best["val_loss"]) == summary["best_value"]
    assert all(math.isfinite(float(row["seconds"])) for row in rows)
