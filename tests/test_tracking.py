"""MLflow tracking, read back from a real local SQLite store through `MlflowClient`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from cnnrun.runs.summary import read_summary
from cnnrun.tracking.tracker import Tracker, flatten


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_flatten_names_are_dotted_paths_without_brackets():
    cfg = {
        "model": {"layers": [{"conv2d": {"filters": 8}}, "flatten"]},
        "x": None,
        "search": {"space": {"model.layers[2].dropout.rate": {"low": 0}}},
    }
    assert dict(flatten(cfg)) == {
        "model.layers.0.conv2d.filters": "8",
        "model.layers.1": "flatten",
        "x": "null",
        "search.space.model.layers.2.dropout.rate.low": "0",  # MLflow refuses brackets
    }


class _Refusing:
    """A client whose store went away mid-run."""

    def __init__(self) -> None:
        self.calls = 0

    def log_batch(self, *args, **kwargs) -> None:
        self.calls += 1
        raise ConnectionError("the tracking server went away")


def test_a_tracker_that_fails_mid_run_warns_once_and_says_so():
    warned: list[str] = []
    client = _Refusing()
    tracker = Tracker(client, "http://x", "1", warned.append, {}, "r", run_id="abc")
    for epoch in (1, 2, 3):
        assert tracker.epoch({"epoch": epoch, "loss": 1.0}) is False
    assert client.calls == 1 and len(warned) == 1
    assert "went away" in warned[0] and "training goes on" in warned[0]
    assert tracker.state()["state"].startswith("failed: log metrics: ConnectionError")


@pytest.mark.slow
def test_a_run_and_its_resume_log_to_one_mlflow_run(tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    r = run_cli("train", tiny_config(epochs=1), "--runs-dir", runs, "--mlflow", uri, "--json")
    assert r.code == 0, r.stderr
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    r = run_cli("train", "--resume", run_dir, "--epochs", "2", "--json")
    assert r.code == 0, r.stderr
    summary = read_summary(run_dir)
    tracked = summary.tracking["mlflow"]
    assert tracked["state"] == "ok" and tracked["tracking_uri"] == uri
    client = _client(uri)
    run = client.get_run(tracked["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.layers.0.conv2d.filters"] == "4"
    assert run.data.params["train.optimizer.name"] == "adam"
    assert run.data.tags["cnnrun.status"] == "completed"
    assert run.data.tags["cnnrun.run_dir"] == str(run_dir)
    assert run.data.tags["cnnrun.config_hash"] == summary.config_hash
    rows = (run_dir / "history.csv").read_text().splitlines()[1:]
    val_loss = [float(row.split(",")[2]) for row in rows]
    logged = _history(client, run.info.run_id, "val_loss")
    assert [step for step, _ in logged] == [1, 2]  # the resumed epoch continued the same run
    assert [v for _, v in logged] == pytest.approx(val_loss)
    assert run.data.metrics["test_accuracy"] == pytest.approx(summary.test["test_accuracy"])
    assert run.data.metrics["best_val_loss"] == pytest.approx(summary.best_value)
    listed = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "summary.json", "history.csv", "best.weights.h5", "curves", "model"} <= (
        listed
    )
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"{run.info.artifact_uri}/model")
    x = np.zeros((3, 8, 8, 1), np.float32)
    assert np.asarray(model.predict(x)).shape == (3, 10)
    assert not (tmp_path / "mlruns").exists() and not Path("mlruns").exists()


@pytest.mark.slow
def test_a_sweep_is_one_parent_run_with_a_child_per_run(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    cfg = tiny_config(epochs=1, extra="logging: {mlflow: true}\n")
    r = cli("sweep", cfg, "--grid", "train.batch_size=32,64", "--runs-dir", runs, "--json")
    assert r.code == 0, r.stdout + r.stderr
    sweep = json.loads(r.stdout)
    uri = f"sqlite:///{runs.resolve() / 'mlflow.db'}"  # the default store, in the runs folder
    assert (runs / "mlartifacts").is_dir()
    client = _client(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "cnnrun"]
    found = client.search_runs([experiment.experiment_id])
    parents = [x for x in found if x.data.tags.get("cnnrun.kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [x for x in found if x.data.tags.get("mlflow.parentRunId")]
    assert len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert sorted(c.data.params["train.batch_size"] for c in children) == ["32", "64"]
    for c in children:
        assert len(_history(client, c.info.run_id, "val_loss")) == 1
        assert "test_accuracy" in c.data.metrics
    assert "sweep.json" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert sweep["variants"]


def test_an_unreachable_tracking_server_fails_at_start(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    t0 = time.perf_counter()
    r = cli("train", tiny_config(), "--runs-dir", runs, "--mlflow", "http://127.0.0.1:9")
    assert r.code == 2
    assert "the MLflow tracking server does not answer" in r.stderr
    assert time.perf_counter() - t0 < 15
    assert not runs.exists() or not any(runs.iterdir())
    dead = "--set=logging.mlflow={tracking_uri: 'http://127.0.0.1:9'}"
    for command in ("sweep", "search"):  # refused before the sweep or search folder is made
        extra = "search: {space: {train.batch_size: {choices: [32, 64]}}}\n"
        r = cli(command, tiny_config(extra=extra), "--runs-dir", runs, dead)
        assert r.code == 2 and "does not answer" in r.stderr, (command, r.stderr)
        assert not runs.exists() or not any(runs.iterdir()), command
