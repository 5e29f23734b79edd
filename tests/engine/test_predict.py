"""`cnnrun.engine.predict`: a run's weights load in a fresh process without a warning."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.predict import rows_of


@pytest.mark.slow
def test_loading_in_a_fresh_process_prints_no_warnings(digits_run):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnrun",
            "predict",
            "--run",
            str(digits_run.path),
            "digits:test",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stderr == ""
    assert len(rows_of(r.stdout)) == 359
