"""`cnnrun.app.search.worker`: workers in several processes share one study, each trial a
complete run folder, a process that joins takes the trials left and never one another holds;
the pruner stops a hopeless trial, and the search is tracked as a parent of its trials."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.search import ENV, cnnrun, ended, pause_in_a_trial, search_config

pytestmark = pytest.mark.slow


def test_two_workers_then_a_joining_process_share_one_study(tmp_path: Path):
    cfg, runs = search_config(tmp_path, epochs=3), tmp_path / "runs"
    r = cnnrun("search", cfg, "--jobs", "2", "--runs-dir", runs, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    search_dir = Path(results["search_dir"])
    assert len(ended(results)) == 6
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
        paused = pause_in_a_trial(
            first, search_dir, before={t["run_dir"] for t in results["trials"]}
        )
        joined = cnnrun("search", "--join", search_dir, "--json", timeout=240)
    finally:
        first.send_signal(signal.SIGCONT)
    out, _ = first.communicate(timeout=240)
    assert first.returncode == 0 and joined.returncode == 0, out + joined.stderr
    final = json.loads((search_dir / "search.json").read_text())["results"]
    assert len(ended(final)) == 12
    by_worker: dict[str, list[str]] = {}
    for t in final["trials"][6:]:
        by_worker.setdefault(t["worker"].rpartition(":")[2], []).append(t["run_dir"])
    assert by_worker[str(first.pid)] == [str(paused)], by_worker  # its one trial, finished
    assert len(by_worker) == 2 and sum(map(len, by_worker.values())) == 6, by_worker
    assert len({t["run_dir"] for t in final["trials"]}) == 12
    listed = json.loads(cnnrun("runs", runs, "--json").stdout)
    assert [(x["path"], x["status"]) for x in listed] == [(str(search_dir), "search")]


def test_pruning_stops_a_trial_with_a_hopeless_learning_rate(cli, tmp_path: Path):
    space = """\
  space:
    train.optimizer.learning_rate: {choices: [0.02, 0.03, 0.000001]}
  sampler: grid
  pruner: {name: median, startup_trials: 1, warmup_epochs: 0}
"""
    cfg = search_config(tmp_path, space, trials=3, epochs=3)
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
