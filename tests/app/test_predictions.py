"""`cnnrun.app.predictions`, the predictions' files: the CSV with top-k and probabilities,
the report folder (metrics, confusion matrix), the gate, and no file overwritten."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.support.predict import digits_test, rows_of

pytestmark = pytest.mark.slow


def test_class_folders_report_and_gate(digits_run, cli, tmp_path):
    trained = digits_run.path
    x, y = digits_test()
    for i, (img, label) in enumerate(zip(x[:40], y[:40], strict=True)):
        folder = tmp_path / "classes" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img[..., 0] * 255 // 16).astype(np.uint8)).save(folder / f"{i}.png")
    out, report = tmp_path / "pred.csv", tmp_path / "report"
    r = cli(
        "predict",
        "--run",
        trained,
        tmp_path / "classes",
        "-o",
        out,
        "--report",
        report,
        "--top-k",
        "3",
        "--probs",
    )
    assert r.code == 0, r.stderr
    rows = rows_of(out.read_text())
    assert len(rows) == 40 and {"label", "top_2", "probability_3", "p:0", "p:9"} <= set(rows[0])
    assert abs(sum(float(rows[0][f"p:{c}"]) for c in range(10)) - 1) < 1e-4
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["samples"] == 40 and len(metrics["confusion_matrix"]) == 10
    assert (report / "confusion_matrix.png").stat().st_size > 5000
    r = cli("predict", "--run", trained, tmp_path / "classes", "--fail-under", "accuracy=1.01")
    assert r.code == 1 and "gate failed: accuracy" in r.stderr
    # nothing the user had is overwritten
    r = cli("predict", "--run", trained, tmp_path / "classes", "-o", out)
    assert r.code == 2 and "--overwrite" in r.stderr
