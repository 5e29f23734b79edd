"""Sweep workers as jobs of a real one-node Slurm cluster (`tests.support.slurm`): two array
tasks join one study (the journal file in the sweep folder), through submitit with
`--launcher slurm` and through the script `--print-sbatch` prints, submitted with `sbatch`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.slurm import logs, slurm_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]
GRID = "train.batch_size=32,64"
# one CPU a job: both jobs run at once on a 2-core machine (the default, 2, runs them in turn)
ONE_CPU = ("--jobs", 2, "--slurm-cpus", 1)
DONE_S = 180.0  # two 1-epoch jobs take ~20 s on 2 cores


@pytest.fixture(scope="module")
def slurm_env() -> Iterator[dict[str, str]]:
    """One cluster for the module; its state in a short folder (munge's socket is in it)."""
    root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
    try:
        with slurm_cluster(root) as env:
            yield env
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def slurm(slurm_env, monkeypatch) -> dict[str, str]:
    """The cluster's environment in `os.environ`, where submitit's sbatch and sacct see it;
    the venv's `cnnrun` on PATH, for the printed script's jobs (sbatch passes PATH on)."""
    path = f"{Path(sys.executable).parent}:{slurm_env['PATH']}"
    monkeypatch.setenv("SLURM_CONF", slurm_env["SLURM_CONF"])
    monkeypatch.setenv("PATH", path)
    return {**slurm_env, "PATH": path}


def _why(sweep_dir: Path | None, env: dict[str, str]) -> str:
    """The jobs' logs and the daemons', for a failure message."""
    parts = []
    found = [*sweep_dir.glob("slurm/*/*_log.*"), *sweep_dir.glob("logs/*.log")] if sweep_dir else []
    for f in sorted(found):
        parts.append(f"--- {f.relative_to(sweep_dir)} ---\n{f.read_text(errors='replace')[-2000:]}")
    return "\n".join([*parts, logs(Path(env["SLURM_CONF"]).parent)])


def _states(job: str, env: dict[str, str]) -> dict[str, list[str]]:
    """Each array task's state, as `scontrol` and as the `sacct` submitit reads say."""
    ask = {"env": env, "capture_output": True, "text": True, "timeout": 15, "check": True}
    shown = subprocess.run(["scontrol", "-o", "show", "job", job], **ask).stdout
    sacct = ["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-j", job]
    rows = subprocess.run(sacct, **ask).stdout.splitlines()[1:]
    return {
        "scontrol": sorted(re.findall(r"JobState=(\S+)", shown)),
        "sacct": sorted(row.split("|")[1] for row in rows),
    }


def _workers(sweep_dir: Path) -> dict[str, str]:
    """Each completed run's worker (`host:pid`), from the study in the sweep folder."""
    import optuna

    from cnnrun.app.study.storage import open_storage

    study = optuna.load_study(study_name=sweep_dir.name, storage=open_storage(sweep_dir, None))
    return {
        t.user_attrs["run_name"]: t.user_attrs["worker"]
        for t in study.trials
        if t.state.name == "COMPLETE"
    }


def _variants(results: dict) -> dict[str, int]:
    return {v["variant"]: v["seeds_done"] for v in results["variants"]}


def test_launcher_slurm_runs_the_sweep_as_two_jobs_of_one_array(cli, tiny_config, tmp_path, slurm):
    cfg = tiny_config(epochs=1)
    runs = tmp_path / "runs"
    r = cli(
        "sweep", cfg, "--grid", GRID, "--launcher", "slurm", *ONE_CPU, "--runs-dir", runs, "--json"
    )
    made = list(runs.glob("*_sweep-tiny"))
    why = _why(made[0] if made else None, slurm)
    assert r.code == 0, f"{r.stdout[-2000:]}{r.stderr[-2000:]}\n{why}"
    (sweep_dir,) = made
    out = json.loads(r.stdout)
    assert out["complete"] and out["status"] == {"completed": 2}, out
    assert _variants(out) == {"batch_size-32": 1, "batch_size-64": 1}
    # submitit's folder: one array of two tasks, each with its result
    tasks = sorted(
        p.name for p in (sweep_dir / "slurm").iterdir() if re.fullmatch(r"\d+_\d", p.name)
    )
    (array,) = {t.split("_")[0] for t in tasks}
    assert tasks == [f"{array}_0", f"{array}_1"], tasks
    assert all(list((sweep_dir / "slurm" / t).glob("*_result.pkl")) for t in tasks)
    assert _states(array, slurm) == {"scontrol": ["COMPLETED"] * 2, "sacct": ["COMPLETED"] * 2}
    # each run trained by its own job: two worker processes, neither this one
    workers = _workers(sweep_dir)
    assert sorted(workers) == ["batch_size-32-seed7", "batch_size-64-seed7"], workers
    pids = {w.rsplit(":", 1)[1] for w in workers.values()}
    assert len(pids) == 2 and str(os.getpid()) not in pids, workers


def test_the_printed_sbatch_script_runs_the_sweep(cli, tiny_config, tmp_path, slurm):
    cfg = tiny_config(epochs=1)
    runs = tmp_path / "runs"
    r = cli("sweep", cfg, "--grid", GRID, *ONE_CPU, "--runs-dir", runs, "--print-sbatch")
    assert r.code == 0, r.stderr
    (sweep_dir,) = runs.glob("*_sweep-tiny")
    script = r.stdout  # the script alone, for `> job.sh`
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash", script
    assert "#SBATCH --array=0-1" in lines and "#SBATCH --cpus-per-task=1" in lines, script
    assert lines[-1] == f"cnnrun sweep --join {sweep_dir.resolve()} --quiet", script
    (tmp_path / "sweep.sbatch").write_text(script)

    ask = {"env": slurm, "capture_output": True, "text": True, "timeout": 15, "cwd": tmp_path}
    submitted = subprocess.run(["sbatch", "--parsable", "sweep.sbatch"], **ask)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    deadline = time.monotonic() + DONE_S
    while subprocess.run(["squeue", "-h", "-j", job], **ask).stdout.strip():
        assert time.monotonic() < deadline, f"not done in {DONE_S:.0f} s\n{_why(sweep_dir, slurm)}"
        time.sleep(0.5)
    states = _states(job, slurm)
    assert states == {"scontrol": ["COMPLETED"] * 2, "sacct": ["COMPLETED"] * 2}, (
        f"{states}\n{_why(sweep_dir, slurm)}"
    )
    logs_ = sorted(p.name for p in (sweep_dir / "logs").iterdir())
    assert logs_ == [f"cnnrun-{job}_0.log", f"cnnrun-{job}_1.log"], logs_

    got = cli("sweep", "--collect", sweep_dir, "--json")
    assert got.code == 0, got.stderr
    collected = json.loads(got.stdout)
    assert collected["status"] == {"completed": 2}, collected
    assert _variants(collected) == {"batch_size-32": 1, "batch_size-64": 1}
    assert len(set(_workers(sweep_dir).values())) == 2
