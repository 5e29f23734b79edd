"""`cnnrun.tracking.parents`: a sweep is one MLflow parent run with a child per run, in the
default store in the runs folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.tracking import client as mlflow_client
from tests.support.tracking import metric_history


@pytest.mark.slow
def test_a_sweep_is_one_parent_run_with_a_child_per_run(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    cfg = tiny_config(epochs=1, extra="logging: {mlflow: true}\n")
    r = cli("sweep", cfg, "--grid", "train.batch_size=32,64", "--runs-dir", runs, "--json")
    assert r.code == 0, r.stdout + r.stderr
    sweep = json.loads(r.stdout)
    uri = f"sqlite:///{runs.resolve() / 'mlflow.db'}"  # the default store, in the runs folder
    assert (runs / "mlartifacts").is_dir()
    client = mlflow_client(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "cnnrun"]
    found = client.search_runs([experiment.experiment_id])
    parents = [x for x in found if x.data.tags.get("cnnrun.kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [x for x in found if x.data.tags.get("mlflow.parentRunId")]
    assert len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert sorted(c.data.params["train.batch_size"] for c in children) == ["32", "64"]
    for c in children:
        assert len(metric_history(client, c.info.run_id, "val_loss")) == 1
        assert "test_accuracy" in c.data.metrics
    assert "sweep.json" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert sweep["variants"]
