"""`cnnrun.app.search.study`: a trial left running by a process killed mid-trial is queued
again and resumed in its own folder; no trial runs twice and no epoch is trained twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.search import ENV, cnnrun, ended, only, search_config

pytestmark = pytest.mark.slow


def test_killed_after_its_first_trial_then_resumed_runs_no_trial_twice(tmp_path: Path):
    cfg, runs = search_config(tmp_path, trials=4, epochs=3), tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnrun", "search", str(cfg), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    deadline = time.time() + 120
    line = ""
    while time.time() < deadline and not line.startswith("[1/4]"):
        line = proc.stdout.readline()
    assert line.startswith("[1/4]"), line
    time.sleep(0.7)  # into the second trial's epochs
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    search_dir = only("*_search-search", runs)
    r = cnnrun("search", "--resume", search_dir, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    assert len(ended(results)) == 4
    names = [t["run_name"] for t in results["trials"]]
    assert len(names) == len(set(names)) == 4, results["trials"]
    run_dirs = [d for d in search_dir.iterdir() if (d / "summary.json").is_file()]
    assert len(run_dirs) == 4  # the killed trial resumed in its own folder
    resumed = [t for t in results["trials"] if t["resumes"] is not None]
    for t in resumed:
        assert t["status"] in ("completed", "pruned")
        history = (Path(t["run_dir"]) / "history.csv").read_text().splitlines()
        epochs = [row.split(",")[0] for row in history[1:]]
        assert epochs == [str(i) for i in range(1, len(epochs) + 1)]  # no epoch twice
