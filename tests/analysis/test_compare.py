"""`cnnrun.analysis.compare`: two runs' config differences and metrics, and the regression
gate with its tolerance."""

from __future__ import annotations

import json
from pathlib import Path


def test_compare_config_diff_metrics_and_gate(cli, synthetic_runs: Path, tmp_path):
    a, b = sorted(p for p in synthetic_runs.glob("*synthetic*"))
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
