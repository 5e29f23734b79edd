"""Sweeps on a real PostgreSQL server: the same table as on the journal file, a worker that
joins from the storage's URL alone, results collected from the storage alone, and a worker
killed mid-run whose run the other worker takes over once its heartbeat is stale."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.postgres import postgres_server
from tests.support.search import ENV

pytestmark = [pytest.mark.slow, pytest.mark.integration]
GRID = "train.batch_size=32,64"


def _table(results: dict) -> list[tuple]:
    return [
        (v["variant"], v["seeds_done"], round(v["best_mean"], 6), round(v["score_mean"], 6))
        for v in results["variants"]
    ]


def test_a_sweep_on_postgresql_joined_by_url_and_collected_from_the_storage_alone(
    cli, tiny_config, tmp_path: Path
):
    cfg = tiny_config(epochs=1, extra="deterministic: true\n")
    r = cli("sweep", cfg, "--grid", GRID, "--runs-dir", tmp_path / "journal", "--json")
    assert r.code == 0, r.stderr
    on_journal = json.loads(r.stdout)
    with postgres_server() as url:
        # the sweep is made and its runs queued; an sbatch array would start its workers
        made = cli(
            "sweep", cfg, "--grid", GRID, "--storage", url, "--runs-dir", tmp_path / "a",
            "--print-sbatch", "--jobs", 2,
        )  # fmt: skip
        assert made.code == 0, made.stderr
        assert made.stdout.startswith("#!/bin/bash\n") and "#SBATCH --array=0-1" in made.stdout
        (study,) = re.findall(r"--study (\S+)", made.stdout)
        # a worker on a machine without the sweep folder: the URL and the study's name only
        joined = cli("sweep", "--join", url, "--study", study, "--runs-dir", tmp_path / "b")
        assert joined.code == 0, joined.stderr
        assert len(list((tmp_path / "b" / study).glob("*_batch_size-*"))) == 2
        # a reader with neither the sweep folder nor the runs
        got = cli("sweep", "--collect", url, "--runs-dir", tmp_path / "c", "--json")
        assert got.code == 0, got.stderr
    collected = json.loads(got.stdout)
    assert _table(collected) == _table(on_journal)  # the same seeds, the same table
    assert collected["status"] == {"completed": 2}
    reader = tmp_path / "c" / study
    assert (reader / "sweep_curves.png").stat().st_size > 10_000
    assert not list(reader.glob("*_batch_size-*"))  # drawn from the storage alone
    assert json.loads((reader / "sweep.json").read_text())["results"]["variants"]


def _running_pid(sweep_dir: Path) -> int | None:
    """The process training a run of the sweep, once it is past its first epoch."""
    for run in sweep_dir.glob("*_epochs-*"):
        try:
            summary = json.loads((run / "summary.json").read_text())
            holder = (run / ".lock").read_text()
        except (OSError, ValueError):
            continue
        if summary.get("status") == "running" and summary.get("epochs_run", 0) >= 1:
            return int(holder.split()[-1])
    return None


def test_a_worker_killed_mid_run_is_replaced_and_every_run_ends_once(tiny_config, tmp_path):
    cfg = tiny_config(epochs=6)
    runs = tmp_path / "runs"
    with postgres_server() as url:
        argv = [sys.executable, "-m", "cnnrun", "sweep", str(cfg), "--grid", "train.epochs=6,7"]
        argv += ["--storage", url, "--heartbeat", "1", "--jobs", "2", "--runs-dir", str(runs)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
        try:
            deadline, victim = time.time() + 120, None
            while victim is None and time.time() < deadline and proc.poll() is None:
                dirs = list(runs.glob("*_sweep-*"))
                victim = _running_pid(dirs[0]) if dirs else None
                time.sleep(0.2)
            assert victim is not None, "no run got past its first epoch"
            os.kill(victim, signal.SIGKILL)
            out, _ = proc.communicate(timeout=180)
        finally:
            proc.kill()
        import optuna

        (sweep_dir,) = runs.glob("*_sweep-*")
        trials = optuna.load_study(study_name=sweep_dir.name, storage=url).trials
    text = out.decode()
    assert proc.returncode == 0, text
    assert "ended with exit -9" in text
    done = [t.user_attrs["run_name"] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(done) == ["epochs-6-seed7", "epochs-7-seed7"], text  # each once
    (failed,) = [t for t in trials if t.state.name == "FAIL"]  # the killed worker's
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == failed.number]
    assert retry.user_attrs["run_dir"] == failed.user_attrs["run_dir"]  # resumed in place
    folders = sorted(sweep_dir.glob("*_epochs-*"))
    assert len(folders) == 2
    for run in folders:
        summary = json.loads((run / "summary.json").read_text())
        assert (
            summary["status"] == "completed" and summary["epochs_run"] == summary["epochs_planned"]
        )
