"""`cnnrun.tracking.store`: a tracking server that does not answer is refused at the start,
quickly, before any run, sweep or search folder is made."""

from __future__ import annotations

import time
from pathlib import Path


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
