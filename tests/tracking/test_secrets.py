"""A password given in the tracking URL reaches the server as credentials and nowhere else: not
in any line cnnrun prints, any file of the run folder or the MLflow artifacts, nor any
parameter, tag or metric sent to the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import serving

pytestmark = pytest.mark.slow
SECRET = "Pw-d0-n0t-l3ak"


def _mlflow(artifacts: Path, seen: list[bytes]) -> Any:
    """Enough of MLflow's tracking API for one run; every request line and body kept."""
    info = {
        "run_id": "r1",
        "run_uuid": "r1",
        "experiment_id": "1",
        "status": "RUNNING",
        "start_time": 1,
        "artifact_uri": artifacts.as_uri(),
        "lifecycle_stage": "active",
    }
    experiment = {"experiment_id": "1", "name": "cnnrun", "lifecycle_stage": "active"}

    def answer(method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        seen.append(path.encode() + b" " + body)
        if "experiments/get-by-name" in path:
            return 200, {"experiment": experiment}
        if "runs/create" in path or "runs/get" in path:
            return 200, {"run": {"info": info, "data": {}}}
        return 200, {"run_info": info} if "runs/update" in path else {}

    return answer


def test_no_output_file_or_mlflow_record_holds_the_password(cli, tiny_config, tmp_path: Path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    seen: list[bytes] = []
    runs = tmp_path / "runs"
    with serving(_mlflow(artifacts, seen)) as base:
        uri = base.replace("http://", f"http://ana:{SECRET}@")
        r = cli("train", tiny_config(epochs=2), "--runs-dir", runs, "--mlflow", uri)
    assert r.code == 0, r.stderr
    assert any(b"runs/log-batch" in s for s in seen) and any(b"runs/update" in s for s in seen)
    assert SECRET not in r.stdout + r.stderr
    # the line that says where the run went shows the user, not the password
    assert f"mlflow: run r1 at {base.replace('http://', 'http://ana@')} (written" in r.stdout
    files = [p for p in [*runs.rglob("*"), *artifacts.rglob("*")] if p.is_file()]
    assert any(p.name == "summary.json" for p in files) and any(p.suffix == ".h5" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    for request in seen:
        assert SECRET.encode() not in request, request[:200]
    summary = json.loads(next(p for p in files if p.name == "summary.json").read_text())
    assert summary["tracking"]["mlflow"]["tracking_uri"].startswith("http://ana@127.0.0.1")
