"""`cnnrun sweep` running (cnnrun.app.sweep.run): parallel runs survive a kill of the sweep
and `--resume` runs only what is missing; a changed config, a folder that is not a sweep and
conflicting options are refused."""

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

from cnnrun.app.sweep import plan as sweep

GRID = "model.layers[1].maxpool2d.pool_size=2,4"


def _sweep_process(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnrun", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _statuses(sweep_dir: Path) -> dict[str, str]:
    return {name: s.status for name, (_, s) in sweep.find_runs(sweep_dir).items()}


def _missing(before: dict[str, str]) -> set[str]:
    names = {f"epochs-{e}-seed{s}" for e in (3, 60) for s in (7, 8)}
    return names - set(before)


# Two short runs, then two long ones: the sweep is killed as the first short one completes,
# so the long ones are surely still training however slow the test's own polling is (with
# four equal runs, warm workers sometimes finished all four before the kill landed).
KILL_GRID = "train.epochs=3,60"


@pytest.mark.slow
def test_parallel_sweep_killed_midway_resumes_only_the_missing_runs(tiny_config, tmp_path):
    cfg = tiny_config(epochs=3)
    runs_dir = tmp_path / "runs"
    proc = _sweep_process(
        str(cfg), "--grid", KILL_GRID, "--seeds", "2", "--jobs", "2", "--runs-dir", str(runs_dir)
    )
    deadline = time.time() + 240
    while time.time() < deadline:  # kill the sweep as soon as its first run has completed
        dirs = list(runs_dir.glob("*_sweep-tiny"))
        if dirs and "completed" in _statuses(dirs[0]).values():
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("no run completed in time")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (sweep_dir,) = dirs
    time.sleep(0.5)
    deadline = time.time() + 60  # the children follow their parent (SIGTERM) and stop
    while time.time() < deadline and "running" in _statuses(sweep_dir).values():
        time.sleep(0.5)
    before = _statuses(sweep_dir)
    completed = {n for n, s in before.items() if s == "completed"}
    assert completed and not any(n.startswith("epochs-60") for n in completed), before
    assert "running" not in before.values(), before
    stamps = {
        n: (d / "summary.json").stat().st_mtime_ns
        for n, (d, _) in sweep.find_runs(sweep_dir).items()
        if n in completed
    }

    r = subprocess.run(
        [sys.executable, "-m", "cnnrun", "sweep", "--resume", str(sweep_dir), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{4 - len(completed)} of 4 runs to do" in r.stdout
    ran = [line.split()[1] for line in r.stdout.splitlines() if re.match(r"\[\d/4\] ", line)]
    assert sorted(ran) == sorted((set(before) - completed) | _missing(before))
    after = sweep.find_runs(sweep_dir)
    assert {n: s.status for n, (_, s) in after.items()} == dict.fromkeys(
        [r.name for r in sweep.read_plan(sweep_dir).runs], "completed"
    )
    for n, stamp in stamps.items():  # finished runs were not touched
        assert (after[n][0] / "summary.json").stat().st_mtime_ns == stamp
    run_folders = [d for d in sweep_dir.iterdir() if (d / "summary.json").exists()]
    assert len(run_folders) == 4  # interrupted runs were resumed in place, not duplicated
    results = json.loads((sweep_dir / "sweep.json").read_text())["results"]
    assert [v["seeds_done"] for v in results["variants"]] == [2, 2]
    assert (sweep_dir / "sweep_curves.png").stat().st_size > 10_000


def test_resume_refuses_a_changed_config_and_collect_a_non_sweep(cli, tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    runs_dir = tmp_path / "runs"
    assert cli("sweep", cfg, "--grid", GRID, "--print-commands", "--runs-dir", runs_dir).code == 0
    (sweep_dir,) = runs_dir.iterdir()
    cfg.write_text(cfg.read_text().replace("epochs: 1", "epochs: 2"))
    r = cli("sweep", "--resume", sweep_dir)
    assert r.code == 2 and "changed since the sweep started" in r.stderr
    r = cli("sweep", "--collect", tmp_path)
    assert r.code == 2 and "is not a sweep folder" in r.stderr
    r = cli("sweep", cfg, "--collect", sweep_dir)
    assert r.code == 2 and "exactly one of" in r.stderr
