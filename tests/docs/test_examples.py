"""examples/: the CI script runs as its comments say, twice: a golden run, then a run
compared against it, leaving every artifact it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, tiny_yaml


@pytest.mark.slow
def test_ci_example_script(tmp_path: Path):
    cfg = tiny_yaml(tmp_path / "tiny.yaml", epochs=3)
    env = {
        **os.environ,
        "CONFIG": str(cfg),
        "RUNS": str(tmp_path / "runs"),
        "ARTIFACTS": str(tmp_path / "golden-artifacts"),
        "MIN_ACCURACY": "0.3",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
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
