"""`cnnrun.tracking.tracker`, a run tracked in MLflow, read back from a real local SQLite
store through `MlflowClient`: its parameters as dotted names, every epoch's metrics (a resume
continuing the same MLflow run), tags, artifacts and a loadable model; a store that fails in
the middle of a run is warned about once and training goes on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnrun.runs.summary import read_summary
from cnnrun.tracking.tracker import Tracker, flatten
from tests.support.tracking import client as mlflow_client
from tests.support.tracking import metric_history


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
    assert tracker.courier.close(stall_s=5.0) is None  # the calls go out off this thread
    assert client.calls == 1 and len(warned) == 1
    assert "went away" in warned[0] and "training goes on" in warned[0]
    assert tracker.state()["state"].startswith("failed: log metrics: ConnectionError")


@pytest.mark.slow
def test_a_run_and_its_resume_log_to_one_mlflow_run(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    r = cli("train", tiny_config(epochs=1), "--runs-dir", runs, "--mlflow", uri, "--json")
    assert r.code == 0, r.stderr
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    r = cli("train", "--resume", run_dir, "--epochs", "2", "--json")
    assert r.code == 0, r.stderr
    summary = read_summary(run_dir)
    tracked = summary.tracking["mlflow"]
    assert tracked["state"] == "ok" and tracked["tracking_uri"] == uri
    client = mlflow_client(uri)
    run = client.get_run(tracked["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.layers.0.conv2d.filters"] == "4"
    assert run.data.params["train.optimizer.name"] == "adam"
    assert run.data.tags["cnnrun.status"] == "completed"
    assert run.data.tags["cnnrun.run_dir"] == str(run_dir)
    assert run.data.tags["cnnrun.config_hash"] == summary.config_hash
    import mlflow

    assert run.data.tags["cnnrun.mlflow_version"] == tracked["mlflow_version"] == mlflow.__version__
    rows = (run_dir / "history.csv").read_text().splitlines()[1:]
    val_loss = [float(row.split(",")[2]) for row in rows]
    logged = metric_history(client, run.info.run_id, "val_loss")
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
