"""`cnnrun.tracking.store`: a tracking server that does not answer, whose API fails or that
refuses the credentials is refused at the start, quickly, before any run, sweep or search
folder is made, and a password in its URL is never shown."""

from __future__ import annotations

import time
from base64 import b64encode
from pathlib import Path
from typing import Any

from tests.support.http import serving


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


def _broken(method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
    """A tracking server whose health check answers but whose API fails, or refuses the
    credentials it is sent."""
    if path == "/health":
        return 200, {}
    if headers.get("Authorization") != "Basic " + b64encode(b"ana:s3cret-pw").decode():
        return 401, {}
    return 500, {}


def test_a_failing_api_or_refused_password_is_exit_2_and_no_password_is_shown(
    cli, tiny_config, tmp_path: Path, monkeypatch
):
    runs = tmp_path / "runs"
    with serving(_broken) as base:
        port = base.rsplit(":", 1)[1]
        for uri, expect in (
            (f"http://ana:s3cret-pw@127.0.0.1:{port}", "HTTP 500"),
            (f"http://ana:wrong-pw@127.0.0.1:{port}", "HTTP 401"),
            (f"http://ana@127.0.0.1:{port}", "HTTP 401"),
        ):
            t0 = time.perf_counter()
            r = cli("train", tiny_config(), "--runs-dir", runs, "--mlflow", uri)
            assert r.code == 2 and expect in r.stderr, r.stderr
            assert "does not answer" in r.stderr and time.perf_counter() - t0 < 10
            assert "s3cret-pw" not in r.stdout + r.stderr and "wrong-pw" not in r.stderr
            assert not runs.exists() or not any(runs.iterdir())
        # the password given the way MLflow's client takes it, outside the URL
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret-pw")
        r = cli(
            "train", tiny_config(), "--runs-dir", runs, "--mlflow", f"http://ana@127.0.0.1:{port}"
        )
        assert r.code == 2 and "HTTP 500" in r.stderr, r.stderr
