"""`cnnrun.analysis.curves`: an overlay of runs of different lengths and metrics, smoothed
and on a log scale, in PNG, PDF and SVG; an unknown format refused."""

from __future__ import annotations

import csv
from pathlib import Path


def test_overlay_of_runs_of_different_lengths_and_metrics(cli, synthetic_runs: Path, tmp_path):
    a, b = sorted(p for p in synthetic_runs.glob("*synthetic*"))
    # b loses its accuracy columns: the overlay must still draw it where it can
    with open(b / "history.csv") as f:
        rows = list(csv.DictReader(f))
    with open(b / "history.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["epoch", "loss", "val_loss"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    for out in ("o.png", "o.pdf", "o.svg"):
        r = cli("plot", a, b, "-o", tmp_path / out, "--smooth", "0.6", "--log-y")
        assert r.code == 0, r.stderr
        assert (tmp_path / out).stat().st_size > 5000
    r = cli("plot", a, b, "-o", tmp_path / "only.png", "--metric", "loss")
    assert r.code == 0
    assert cli("plot", a, b, "-o", tmp_path / "x.gif").code == 2
