"""`cnnrun.analysis.report`: a run's HTML report is one self-contained page (images inlined,
no link out) with its verdict, layers and scores."""

from __future__ import annotations

from pathlib import Path


def test_report_is_self_contained(cli, synthetic_runs: Path):
    run = next(synthetic_runs.glob("*synthetic-001"))
    r = cli("report", run)
    assert r.code == 0, r.stderr
    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # loss and accuracy curves
    assert "http://" not in page and "https://" not in page
    for text in ("synthetic-001", "converged", "conv2d", "(None, 8, 8, 8)", "test_accuracy"):
        assert text in page
