"""`cnnrun.runs.locks`: one process at a time trains a run; a second resume is refused naming
the process that holds it, and the run is left as it was."""

from __future__ import annotations

import os
from pathlib import Path

from cnnrun.runs.locks import run_lock
from tests.support import refused


def test_a_second_resume_of_a_run_in_training_is_refused(cli, old_run: Path):
    run = old_run
    with run_lock(run):
        r = cli("train", "--resume", run, "--epochs", "3")
    refused(r, "is being trained by process", str(os.getpid()))
    assert 'epochs_run": 2' in (run / "summary.json").read_text()
