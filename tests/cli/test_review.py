"""`cnnrun runs`, `plot`, `compare` and `report` (cnnrun.cli.review): the runs table over
broken folders, plots redrawn, and none of them imports TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_runs_table_survives_broken_folders(cli, synthetic_runs: Path):
    runs_dir = synthetic_runs
    r = cli("runs", runs_dir)
    assert r.code == 0, r.stderr
    for text in (
        "synthetic-001",
        "synthetic-002",
        "not a run",
        "corrupt",
        "incomplete",
        "overfitting",
        "converged",
        "5 run folder(s)",
    ):
        assert text in r.stdout
    doc = json.loads(cli("runs", runs_dir, "--json").stdout)
    assert [d["status"] for d in doc][:2] == ["incomplete", "corrupt"]  # newest first
    only = json.loads(cli("runs", runs_dir, "--json", "--status", "completed").stdout)
    assert {d["name"] for d in only} == {"synthetic-001", "synthetic-002"}
    by_best = json.loads(
        cli("runs", runs_dir, "--json", "--sort", "best", "--status", "completed").stdout
    )
    assert by_best[0]["best_value"] <= by_best[1]["best_value"]
    assert cli("runs", runs_dir, "--sort", "size").code == 2
    assert cli("runs", runs_dir / "nowhere").code == 2


@pytest.mark.slow
def test_plot_redraws_a_trained_run_and_overlays_two(cli, digits_run_copy: Path, tmp_path: Path):
    run = digits_run_copy
    (run / "curves" / "loss.png").unlink()
    r = cli("plot", run)
    assert r.code == 0 and (run / "curves" / "loss.png").stat().st_size > 10_000
    r = cli("plot", run, run, "-o", tmp_path / "overlay.svg")
    assert r.code == 0 and (tmp_path / "overlay.svg").read_text().startswith("<?xml")
    r = cli("plot", tmp_path)
    assert r.code == 2 and "is not a run folder" in r.stderr


def test_core_commands_do_not_import_tensorflow(synthetic_runs: Path, tmp_path: Path):
    runs_dir = synthetic_runs
    a, b = sorted(str(p) for p in runs_dir.glob("*synthetic*"))
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnnrun.cli import app\n"
        "r = CliRunner()\n"
        f"for args in (['runs', {str(runs_dir)!r}], ['plot', {a!r}], ['compare', {a!r}, {b!r}],"
        f" ['report', {a!r}], ['plot', {a!r}, {b!r}, '-o', {str(tmp_path / 'o.png')!r}]):\n"
        "    res = r.invoke(app, args)\n"
        "    assert res.exit_code == 0, (args, res.output)\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
