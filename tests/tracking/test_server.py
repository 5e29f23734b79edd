"""A run tracked on a real MLflow tracking server (`mlflow server` of the full package,
tests/support/mlflow_server.py) over HTTP, read back as any other client of the server would:
plain requests to its REST API, no MLflow client. Every epoch's metrics at step = epoch match
history.csv, the parameters and tags are the run's, and its files went up through the server
(proxied artifacts) into the server's own artifact folder."""

from __future__ import annotations

import csv
import json
import urllib.parse
import urllib.request
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from cnnrun.runs.summary import RunSummary, read_summary
from tests.support import only_run
from tests.support.mlflow_server import mlflow_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API = "/api/2.0/mlflow"


class Rest:
    """JSON over HTTP to a tracking server's REST API, as `curl` would send it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, endpoint: str, **query: str) -> Any:
        q = urllib.parse.urlencode(query)
        with urllib.request.urlopen(f"{self.url}{API}/{endpoint}?{q}", timeout=10) as r:
            return json.load(r)

    def post(self, endpoint: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"{self.url}{API}/{endpoint}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """(step, value) of each logged value of `key`, by step."""
        got = self.get("metrics/get-history", run_id=run_id, metric_key=key)["metrics"]
        return sorted((int(m["step"]), float(m["value"])) for m in got)

    def files(self, run_id: str, path: str = "") -> dict[str, dict[str, Any]]:
        """The run's artifacts in one folder, by path."""
        query = {"run_id": run_id, **({"path": path} if path else {})}
        return {f["path"]: f for f in self.get("artifacts/list", **query).get("files", [])}


def test_a_run_tracked_on_a_real_server_reads_back_over_its_rest_api(cli, tiny_config, tmp_path):
    runs = tmp_path / "runs"
    with mlflow_server(tmp_path / "server") as url:
        extra = f"logging:\n  mlflow: {{tracking_uri: '{url}', experiment: served}}\n"
        r = cli(
            "train",
            tiny_config(epochs=2, extra=extra),
            "--runs-dir",
            runs,
            "--set",
            "train.optimizer.learning_rate=0.01",
        )
        assert r.code == 0, r.stderr
        run_dir = only_run(runs)
        summary = read_summary(run_dir)
        tracked = summary.tracking["mlflow"]
        written_with = version("mlflow-skinny")
        assert tracked["state"] == "ok" and tracked["mlflow_version"] == written_with
        # the line that says where the run went, with the MLflow that wrote it
        assert f"mlflow: run {tracked['run_id']} at {url} (written with MLflow {written_with})" in (
            r.stdout
        )

        api = Rest(url)
        experiment = api.get("experiments/get-by-name", experiment_name="served")["experiment"]
        found = api.post("runs/search", {"experiment_ids": [experiment["experiment_id"]]})
        (listed,) = found["runs"]
        run_id = listed["info"]["run_id"]
        assert run_id == tracked["run_id"]
        run = api.get("runs/get", run_id=run_id)["run"]
        _check_run(run, summary, written_with)
        _check_metrics(api, run_id, run_dir, summary.best_value, summary.test)
        _check_artifacts(api, run, run_dir, tmp_path / "server" / "artifacts")


def _check_run(run: dict, summary: RunSummary, mlflow_version: str) -> None:
    info, data = run["info"], run["data"]
    assert info["status"] == "FINISHED" and info["run_name"] == "tiny"
    params = {p["key"]: p["value"] for p in data["params"]}
    assert params["train.optimizer.learning_rate"] == "0.01"
    assert params["model.layers.0.conv2d.filters"] == "4"
    assert params["train.epochs"] == "2"
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["cnnrun.status"] == "completed"
    assert tags["cnnrun.best_epoch"] == str(summary.best_epoch)
    assert tags["cnnrun.run_dir"] == summary.run_dir
    assert tags["cnnrun.config_hash"] == summary.config_hash
    assert tags["cnnrun.mlflow_version"] == mlflow_version


def _check_metrics(
    api: Rest, run_id: str, run_dir: Path, best: float | None, test: dict[str, float]
) -> None:
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        logged = api.history(run_id, key)
        assert [step for step, _ in logged] == [1, 2], key  # step = epoch, once each
        assert [v for _, v in logged] == pytest.approx([float(row[key]) for row in rows]), key
    assert [s for s, _ in api.history(run_id, "epoch_seconds")] == [1, 2]
    (best_logged,) = api.history(run_id, "best_val_loss")
    assert best_logged[1] == pytest.approx(best)
    for key, value in test.items():
        assert api.history(run_id, key)[0][1] == pytest.approx(value), key


def _check_artifacts(api: Rest, run: dict, run_dir: Path, server_root: Path) -> None:
    # proxied: the client sent its files to the server, which wrote them under its own folder
    assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:/")
    top = api.files(run["info"]["run_id"])
    for name in ("config.yaml", "summary.json", "history.csv", "best.weights.h5"):
        assert not top[name]["is_dir"], name
    for name in ("config.yaml", "history.csv", "best.weights.h5"):  # summary.json changes after
        assert int(top[name]["file_size"]) == (run_dir / name).stat().st_size, name
    assert top["model"]["is_dir"] and top["curves"]["is_dir"]
    model = api.files(run["info"]["run_id"], "model")
    assert "model/MLmodel" in model and not model["model/MLmodel"]["is_dir"]
    (stored,) = server_root.rglob("config.yaml")
    assert stored.read_bytes() == (run_dir / "config.yaml").read_bytes()
    (weights,) = server_root.rglob("best.weights.h5")
    assert weights.read_bytes() == (run_dir / "best.weights.h5").read_bytes()
