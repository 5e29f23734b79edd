"""`cnnrun.analysis.report`: a run's HTML report is one self-contained page (images inlined,
no link out) with its verdict, layers and scores; a run folder's own files are input too:
one that cannot be read is named, and the rest is drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.support import refused


def test_report_is_self_contained(cli, synthetic_runs: Path):
    run = next(synthetic_runs.glob("*synthetic-001"))
    r = cli("report", run)
    assert r.code == 0, r.stderr
    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # loss and accuracy curves
    assert "http://" not in page and "https://" not in page
    for text in ("synthetic-001", "converged", "conv2d", "(None, 8, 8, 8)", "test_accuracy"):
        assert text in page


def test_an_unreadable_summary_is_named(cli, digits_run_copy: Path):
    (digits_run_copy / "summary.json").write_text("{\n  garbage")
    for args in (("report", digits_run_copy), ("inspect", digits_run_copy, "--errors")):
        r = cli(*args)
        refused(r, "summary.json", "not JSON")


def test_a_part_that_cannot_be_read_is_left_out_and_said(cli, digits_run_copy: Path):
    """A calibration without bins, a pickled or torn errors.npz: the rest of the report is
    drawn, with a line naming the file and the field; `inspect --errors` refuses, naming it."""
    summary_file = digits_run_copy / "summary.json"
    summary = json.loads(summary_file.read_text())
    del summary["calibration"]["bins"]
    summary_file.write_text(json.dumps(summary))
    kept = digits_run_copy / "errors.npz"
    np.savez(kept, images=np.array([{"a": 1}], dtype=object))  # a pickle inside
    r = cli("report", digits_run_copy)
    assert r.code == 0, r.stderr
    page = (digits_run_copy / "report.html").read_text()
    assert "the reliability diagram is left out" in page and "calibration.bins: missing" in page
    assert "the errors gallery is left out" in page and "pickled" in page and "errors.npz" in page
    assert "Learning curves" in page
    refused(cli("inspect", digits_run_copy, "--errors"), "errors.npz", "pickled")
    kept.write_bytes(b"PK\x03\x04 torn")
    refused(cli("inspect", digits_run_copy, "--errors"), "errors.npz", "cannot read")
