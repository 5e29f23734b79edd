"""A real MLflow tracking server for the integration tests: `mlflow server` from the full
`mlflow` package, which `.ci/run` installs in a virtual environment of its own and names in
`CNNRUN_MLFLOW_SERVER` (cnnrun's own environment keeps mlflow-skinny alone, as users install
it). A SQLite store and proxied artifacts in a temporary folder, on a free port of 127.0.0.1,
stopped with its workers after.

Without `CNNRUN_MLFLOW_SERVER` a test that needs the server is skipped, or fails where
`CNNRUN_REQUIRE_SERVERS` is set (CI), so that a missing install step cannot pass unseen.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

SERVER_ENV, REQUIRE_ENV = "CNNRUN_MLFLOW_SERVER", "CNNRUN_REQUIRE_SERVERS"
START_S = 60.0  # a cold start on 2 cores takes ~5 s: migrations, then uvicorn's worker
STOP_S = 5.0

# Off: the job runner (a second process, for GenAI jobs), and telemetry, which would call out
# of a machine whose tests reach 127.0.0.1 only (pytest's own variable turns it off too).
QUIET = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


def server_command() -> Path:
    """The `mlflow` executable of the full package; skips (or fails in CI) without one."""
    found = os.environ.get(SERVER_ENV)
    if not found:
        why = f"{SERVER_ENV} is not set: no `mlflow server` (the full mlflow package) to test"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{why}, and {REQUIRE_ENV} is set: .ci/run installs it and sets it")
        pytest.skip(why)
    path = Path(found)
    if not os.access(path, os.X_OK):  # set but wrong: a broken setup, never a skip
        pytest.fail(f"{SERVER_ENV}={found} is not an executable")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    """The whole process group at once: `mlflow server` starts uvicorn as a child of its
    own, and the store is thrown away (a graceful stop costs a second and a half)."""
    with suppress(ProcessLookupError):  # it died by itself
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(STOP_S)


@contextmanager
def mlflow_server(root: Path) -> Iterator[str]:
    """The base URL (`http://127.0.0.1:PORT`) of a new tracking server while the block runs.

    Its store is `root/mlflow.db`; artifacts go up through the server (`--serve-artifacts`:
    runs get `mlflow-artifacts:/` URIs) into `root/artifacts`; its log is `root/server.log`.

    Args:
        root: an empty folder of the test's own.
    """
    mlflow = server_command()
    root.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{_free_port()}"
    command = [
        str(mlflow),
        "server",
        *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
        "--serve-artifacts",
        *("--artifacts-destination", str(root / "artifacts")),
        *("--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1], "--workers", "1"),
    ]
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **QUIET},
            cwd=root,  # anything it writes by default (./mlruns) stays in the test's folder
            start_new_session=True,  # its own process group, stopped whole
        )
    try:
        deadline = time.monotonic() + START_S
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(errors="replace")[-4000:]
                how = f"exited with {proc.returncode}" if proc.returncode is not None else "hung"
                pytest.fail(f"`mlflow server` {how} before {url}/health answered:\n{said}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)
