"""`runs`, `plot` overlays, `compare` and `report` through the CLI, on synthetic and real runs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import make_run


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "runs"
    make_run(d, 1, epochs=30)
    make_run(d, 2, epochs=12, overfit=True)
    (d / "not-a-run").mkdir()
    corrupt = d / "2026-11-02T00-00-00_corrupt"
    corrupt.mkdir()
    (corrupt / "summary.json").write_text('{"status": "compl')
    half = d / "2026-11-03T00-00-00_half"
    half.mkdir()
    (half / "config.yaml").write_text("name: half\n")
    return d


def test_runs_table_survives_broken_folders(cli, runs_dir: Path):
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


def test_overlay_of_runs_of_different_lengths_and_metrics(cli, runs_dir: Path, tmp_path):
    a, b = sorted(p for p in runs_dir.glob("*synthetic*"))
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


def test_compare_config_diff_metrics_and_gate(cli, runs_dir: Path, tmp_path):
    a, b = sorted(p for p in runs_dir.glob("*synthetic*"))
    r = cli("compare", a, b, "--json", "-o", tmp_path / "cmp.png")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {d["path"] for d in doc["config_diff"]} == {"name", "seed"}
    assert {m["metric"] for m in doc["metrics"]} >= {"val_loss", "val_accuracy", "test_accuracy"}
    assert (tmp_path / "cmp.png").is_file()
    # b overfits: its val_accuracy is worse than a's by more than 0.01
    r = cli("compare", a, b, "--metric", "val_accuracy", "--tolerance", "0.01")
    assert r.code == 1 and "regression: val_accuracy is worse in B" in r.stderr
    assert cli("compare", b, a, "--metric", "val_accuracy", "--tolerance", "0.01").code == 0
    assert cli("compare", a, b, "--metric", "val_loss", "--tolerance", "1.0").code == 0
    r = cli("compare", a, b, "--metric", "f1", "--tolerance", "0.1")
    assert r.code == 2 and "both runs need 'f1'" in r.stderr


def test_report_is_self_contained(cli, runs_dir: Path):
    run = next(runs_dir.glob("*synthetic-001"))
    r = cli("report", run)
    assert r.code == 0, r.stderr
    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # loss and accuracy curves
    assert "http://" not in page and "https://" not in page
    for text in ("synthetic-001", "converged", "conv2d", "(None, 8, 8, 8)", "test_accuracy"):
        assert text in page


def test_core_commands_do_not_import_tensorflow(runs_dir: Path, tmp_path: Path):
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


@pytest.mark.slow
def test_overfitting_config_is_diagnosed_and_batchnorm_lag_hid_its_twins(cli, tmp_path):
    from conftest import CONFIGS

    verdicts = {}
    for name, sets in (
        ("digits-overfit", []),
        ("digits-overfit-regularized", []),
        ("digits-overfit-regularized", ["--set", "train.batchnorm_stats=moving"]),
    ):
        runs = tmp_path / f"{name}{len(sets)}"
        # 20 of the configs' 30 epochs are enough to see it, and keep the suite fast
        r = cli(
            "train",
            CONFIGS / f"{name}.yaml",
            "--runs-dir",
            runs,
            "--quiet",
            "--set",
            "train.epochs=20",
            *sets,
        )
        assert r.code == 0, r.stderr
        (run,) = runs.iterdir()
        verdicts[name + ("-moving" if sets else "")] = json.loads(
            (run / "summary.json").read_text()
        )["diagnosis"]
    assert verdicts["digits-overfit"]["verdict"] == "overfitting"
    assert verdicts["digits-overfit"]["gl"] > 5
    # With statistics recomputed (the default) the regularized twin overfits too; with the
    # moving averages their lag hides it: its validation loss still falls at the end.
    assert verdicts["digits-overfit-regularized"]["verdict"] == "overfitting"
    assert verdicts["digits-overfit-regularized-moving"]["verdict"] != "overfitting"


@pytest.mark.slow
def test_ci_example_script(tmp_path: Path):
    from conftest import ROOT, TINY

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY.format(epochs=3, extra=""))
    env = {
        **__import__("os").environ,
        "CONFIG": str(cfg),
        "RUNS": str(tmp_path / "runs"),
        "ARTIFACTS": str(tmp_path / "golden-artifacts"),
        "MIN_ACCURACY": "0.3",
        "PATH": f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}",
    }
    script = [str(ROOT / "examples" / "ci.sh"), "--set", "train.optimizer.learning_rate=0.01"]
    first = subprocess.run(["bash", *script], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    golden = json.loads((tmp_path / "golden-artifacts" / "summary.json").read_text())["run_dir"]
    env.update(GOLDEN=golden, ARTIFACTS=str(tmp_path / "artifacts"))
    second = subprocess.run(["bash", *script], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    art = tmp_path / "artifacts"
    for name in (
        "summary.json",
        "predictions.csv",
        "predict/metrics.json",
        "compare.png",
        "report.html",
    ):
        assert (art / name).is_file(), name
