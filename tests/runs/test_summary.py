"""`cnnrun.runs.summary`, the typed summary: one written by cnnrun 0.1 before the rehousing
(tests/fixtures/v0.1-run) still lists and plots."""

from __future__ import annotations

import json
from pathlib import Path


def test_an_old_run_lists_and_plots(old_run: Path, cli):
    r = cli("runs", old_run.parent, "--json")
    assert r.code == 0, r.stderr
    (info,) = json.loads(r.stdout)
    assert info["status"] == "completed" and info["best_epoch"] == 2
    r = cli("plot", old_run)
    assert r.code == 0, r.stderr
    assert (old_run / "curves" / "loss.png").stat().st_size > 10_000
