"""`cnnrun search`: Optuna trials as run folders, workers sharing a study, kill and resume,
pruning, and the results a user reads (table, best.yaml, search.png, search.json)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

SEARCH = """\
name: srch
seed: 7
data: {{source: digits}}
model:
  layers:
    - conv2d: {{filters: 4, kernel_size: 3, padding: same}}
    - maxpool2d: {{pool_size: 2}}
    - dropout: {{rate: 0.2}}
    - flatten: {{}}
    - dense: {{units: 10, activation: softmax}}
train: {{epochs: {epochs}, batch_size: 64, precision: float32}}
search:
  trials: {trials}
{search}
"""
LR_DROPOUT = """\
  space:
    train.optimizer.learning_rate: {low: 0.001, high: 0.03, log: true}
    model.layers[2].dropout.rate: {low: 0.0, high: 0.5}
"""
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _config(tmp_path: Path, search: str = LR_DROPOUT, trials: int = 6, epochs: int = 2) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(SEARCH.format(search=search, trials=trials, epochs=epochs))
    return path


def _cnnrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnrun", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def _only(pattern: str, where: Path) -> Path:
    (found,) = list(where.glob(pattern))
    return found


def _pause_in_a_trial(proc: subprocess.Popen, search_dir: Path, before: set[str]) -> Path:
    """SIGSTOP `proc` while it trains a new trial (after the folder lock, before the end)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        for d in search_dir.glob("*_trial-*"):
            if str(d) in before or not (d / "history.csv").is_file():
                continue
            proc.send_signal(signal.SIGSTOP)
            if json.loads((d / "summary.json").read_text())["status"] == "running":
                return d
            proc.send_signal(signal.SIGCONT)  # it had just finished that one: the next
            before.add(str(d))
        time.sleep(0.02)
    raise AssertionError("the first process trained no new trial in time")


def _ended(results: dict) -> list[dict]:
    return [t for t in results["trials"] if t["status"] in ("completed", "pruned")]


def test_a_bad_range_or_key_is_refused_before_any_folder(cli, tmp_path: Path):
    bad = """\
  space:
    model.layers[2].dropout.rate: {low: 0.0, high: 1.5}
    model.layers[0].conv2d.filterz: {choices: [4, 8]}
    train.optimizer.learning_rate: {low: 0.01, high: 0.001}
"""
    runs = tmp_path / "runs"
    r = cli("search", _config(tmp_path, bad), "--runs-dir", runs)
    assert r.code == 2
    assert "search.space.train.optimizer.learning_rate: low 0.01 is above high 0.001" in r.stderr
    assert not runs.exists()
    fixed = bad.replace("{low: 0.01, high: 0.001}", "{low: 0.001, high: 0.01}")
    r = cli("search", _config(tmp_path, fixed), "--runs-dir", runs)
    assert r.code == 2
    assert "search.yaml:" in r.stderr  # the file and line of the key
    assert "search.space.model.layers[2].dropout.rate: 1.5: expected a value less than 1" in (
        r.stderr
    )
    assert "unknown key 'filterz' (did you mean 'filters'?)" in r.stderr
    assert not runs.exists()
    r = cli("search", _config(tmp_path, "  space: {}"), "--runs-dir", runs)
    assert r.code == 2 and "space" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_two_workers_then_a_joining_process_share_one_study(tmp_path: Path):
    cfg, runs = _config(tmp_path, epochs=3), tmp_path / "runs"
    r = _cnnrun("search", cfg, "--jobs", "2", "--runs-dir", runs, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    search_dir = Path(results["search_dir"])
    assert len(_ended(results)) == 6
    assert len({t["worker"] for t in results["trials"]}) == 2  # both workers took trials
    for t in results["trials"]:  # every trial is a normal, complete run folder
        summary = json.loads((Path(t["run_dir"]) / "summary.json").read_text())
        assert summary["status"] == t["status"]
        assert (Path(t["run_dir"]) / "best.weights.h5").is_file()
        assert 0.001 <= t["params"]["train.optimizer.learning_rate"] <= 0.03
    best = yaml.safe_load((search_dir / "best.yaml").read_text())
    assert "search" not in best
    assert (
        best["train"]["optimizer"]["learning_rate"]
        == results["best"]["params"]["train.optimizer.learning_rate"]
    )
    assert (search_dir / "search.png").stat().st_size > 20_000

    # Six more trials. One process continues the study; it is paused in the middle of a trial
    # (its lock held) while a second process joins and takes the other trials; then it goes
    # on. The joining process neither takes nor re-queues the paused process's trial.
    first = subprocess.Popen(
        [sys.executable, "-m", "cnnrun", "search", "--resume", str(search_dir), "--trials", "12"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    try:
        paused = _pause_in_a_trial(
            first, search_dir, before={t["run_dir"] for t in results["trials"]}
        )
        joined = _cnnrun("search", "--join", search_dir, "--json", timeout=240)
    finally:
        first.send_signal(signal.SIGCONT)
    out, _ = first.communicate(timeout=240)
    assert first.returncode == 0 and joined.returncode == 0, out + joined.stderr
    final = json.loads((search_dir / "search.json").read_text())["results"]
    assert len(_ended(final)) == 12
    by_worker: dict[str, list[str]] = {}
    for t in final["trials"][6:]:
        by_worker.setdefault(t["worker"].rpartition(":")[2], []).append(t["run_dir"])
    assert by_worker[str(first.pid)] == [str(paused)], by_worker  # its one trial, finished
    assert len(by_worker) == 2 and sum(map(len, by_worker.values())) == 6, by_worker
    assert len({t["run_dir"] for t in final["trials"]}) == 12
    listed = json.loads(_cnnrun("runs", runs, "--json").stdout)
    assert [(x["path"], x["status"]) for x in listed] == [(str(search_dir), "search")]


@pytest.mark.slow
def test_killed_after_its_first_trial_then_resumed_runs_no_trial_twice(tmp_path: Path):
    cfg, runs = _config(tmp_path, trials=4, epochs=3), tmp_path / "runs"
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
    search_dir = _only("*_search-search", runs)
    r = _cnnrun("search", "--resume", search_dir, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    assert len(_ended(results)) == 4
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


@pytest.mark.slow
def test_pruning_stops_a_trial_with_a_hopeless_learning_rate(cli, tmp_path: Path):
    space = """\
  space:
    train.optimizer.learning_rate: {choices: [0.02, 0.03, 0.000001]}
  sampler: grid
  pruner: {name: median, startup_trials: 1, warmup_epochs: 0}
"""
    cfg = _config(tmp_path, space, trials=3, epochs=3)
    # seed 10: the grid sampler's order starts with a good rate, so the pruner has a median
    runs = tmp_path / "runs"
    r = cli(
        "search",
        cfg,
        "--runs-dir",
        runs,
        "--set",
        "seed=10",
        "--set",
        "logging.mlflow=true",
        "--json",
    )
    assert r.code == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    by_lr = {t["params"]["train.optimizer.learning_rate"]: t for t in results["trials"]}
    hopeless = by_lr[0.000001]
    first = min(results["trials"], key=lambda t: t["number"])
    assert first is not hopeless, "the seed's grid order puts the hopeless trial first"
    assert hopeless["status"] == "pruned" and hopeless["epochs"] < 3, hopeless
    summary = json.loads((Path(hopeless["run_dir"]) / "summary.json").read_text())
    assert summary["status"] == "pruned" and "pruned after epoch" in summary["reason"]
    assert (Path(hopeless["run_dir"]) / "curves" / "loss.png").is_file()
    assert results["best"]["params"]["train.optimizer.learning_rate"] in (0.02, 0.03)
    # tracked: the search is one MLflow run, each trial a child, the pruned one ended too
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{runs.resolve() / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("cnnrun").experiment_id])
    (parent,) = [x for x in found if x.data.tags.get("cnnrun.kind") == "search"]
    children = [x for x in found if x.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3 and {c.info.status for c in children} == {"FINISHED"}
    assert sorted(c.data.tags["cnnrun.status"] for c in children) == [
        "completed",
        "completed",
        "pruned",
    ]
    assert "search.png" in {a.path for a in client.list_artifacts(parent.info.run_id)}


@pytest.mark.slow
def test_choices_of_whole_layer_lists_and_confirm_seeds(cli, tmp_path: Path):
    space = """\
  space:
    model.layers:
      choices:
        - [flatten, {dense: {units: 10, activation: softmax}}]
        - [{conv2d: {filters: 8, kernel_size: 3, padding: same}}, flatten,
           {dense: {units: 10, activation: softmax}}]
  sampler: grid
  pruner: none
"""
    cfg = _config(tmp_path, space, trials=2, epochs=2)
    r = cli("search", cfg, "--runs-dir", tmp_path / "runs", "--confirm-seeds", "2", "--json")
    assert r.code == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    assert sorted(t["params"]["model.layers"] for t in results["trials"]) == ["#0", "#1"]
    for t in results["trials"]:  # the choice itself is in the trial's config
        layers = yaml.safe_load((Path(t["run_dir"]) / "config.yaml").read_text())["model"]
        assert len(layers["layers"]) == (2 if t["params"]["model.layers"] == "#0" else 3)
    confirm = results["confirm"]
    assert confirm["complete"]
    assert "seed noise" in confirm["verdict"] or "at these seeds" in confirm["verdict"]
    variants = {v["variant"]: v["seeds_done"] for v in confirm["results"]["variants"]}
    assert variants == {"start": 2, "best": 2}
