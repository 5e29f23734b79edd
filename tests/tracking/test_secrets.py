"""A password given in the tracking URL reaches the server as credentials and nowhere else: not
in any line cnnrun prints, any file of the run folder or the MLflow artifacts, nor any
parameter, tag or metric sent to the server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SECRET = "Pw-d0-n0t-l3ak"


def _server(artifacts: Path) -> tuple[ThreadingHTTPServer, list[bytes]]:
    """Enough of MLflow's tracking API for one run; every request line and body kept."""
    seen: list[bytes] = []
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

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path.encode() + b" " + body)
            if "experiments/get-by-name" in self.path:
                doc = {"experiment": experiment}
            elif "runs/create" in self.path or "runs/get" in self.path:
                doc = {"run": {"info": info, "data": {}}}
            elif "runs/update" in self.path:
                doc = {"run_info": info}
            else:
                doc = {}
            data = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_no_output_file_or_mlflow_record_holds_the_password(cli, tiny_config, tmp_path: Path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    server, seen = _server(artifacts)
    uri = f"http://ana:{SECRET}@127.0.0.1:{server.server_address[1]}"
    runs = tmp_path / "runs"
    try:
        r = cli("train", tiny_config(epochs=2), "--runs-dir", runs, "--mlflow", uri)
    finally:
        server.shutdown()
    assert r.code == 0, r.stderr
    assert any(b"runs/log-batch" in s for s in seen) and any(b"runs/update" in s for s in seen)
    assert SECRET not in r.stdout + r.stderr
    files = [p for p in [*runs.rglob("*"), *artifacts.rglob("*")] if p.is_file()]
    assert any(p.name == "summary.json" for p in files) and any(p.suffix == ".h5" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    for request in seen:
        assert SECRET.encode() not in request, request[:200]
    summary = json.loads(next(p for p in files if p.name == "summary.json").read_text())
    assert summary["tracking"]["mlflow"]["tracking_uri"].startswith("http://ana@127.0.0.1")
