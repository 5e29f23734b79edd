"""Reading one model: per-class scores, calibration, the errors gallery and Grad-CAM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from cnnrun.analysis.scores import calibration, classification_scores, worst_errors


def test_per_class_scores_and_their_means_match_the_definitions():
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0, 0])
    s = classification_scores(y, p, ["a", "b", "c"])
    a, b, c = (s["per_class"][k] for k in "abc")
    assert a == {"precision": 1 / 3, "recall": 0.5, "f1": pytest.approx(0.4), "support": 2}
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == pytest.approx(2 / 3)
    assert c == {"precision": None, "recall": 0.0, "f1": None, "support": 1}  # never predicted
    macro = s["averages"]["macro"]
    assert macro["f1"] == pytest.approx((0.4 + 2 / 3 + 0) / 3)
    weighted = s["averages"]["weighted"]
    assert weighted["recall"] == pytest.approx(s["accuracy"])  # weighted recall is accuracy


def test_calibration_bins_and_ece():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.35, 0.65]])
    c = calibration(y, probs)
    assert [b["count"] for b in c["bins"]] == [0, 0, 0, 0, 0, 1, 1, 0, 0, 2]
    # bin 0.5-0.6: confidence .55, wrong; 0.6-0.7: .65, right; 0.9-1: .95 twice, right
    assert c["ece"] == pytest.approx((0.55 + 0.35 + 2 * 0.05) / 4)
    assert calibration(np.array([1]), np.array([[0.0, 1.0]]))["bins"][-1]["count"] == 1


def test_worst_errors_are_sorted_by_the_wrong_class_probability():
    y = np.array([0, 1, 2, 0])
    probs = np.array([[0.1, 0.6, 0.3], [0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.2, 0.2, 0.6]])
    got = worst_errors(y, probs)
    assert [(e["index"], e["predicted"]) for e in got] == [(2, 0), (0, 1), (3, 2)]
    assert worst_errors(y, probs, limit=1)[0]["probability"] == 0.9


def _quadrants(path: Path, n: int, seed: int) -> None:
    """16x16 grey images of noise; the class is the one quadrant that is bright."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(n, 16, 16, 1)).astype(np.uint8)
    y = np.arange(n) % 4
    for i, q in enumerate(y):
        r, c = divmod(int(q), 2)
        x[i, r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] = rng.integers(190, 256, size=(8, 8, 1))
    split = n * 3 // 4
    names = np.array(["top-left", "top-right", "bottom-left", "bottom-right"])
    np.savez(path, x=x[:split], y=y[:split], x_test=x[split:], y_test=y[split:], class_names=names)


QUADRANTS = """\
name: quadrants
seed: 3
data: {{source: npz, path: {path}}}
model:
  layers:
{layers}
    - maxpool2d: {{pool_size: 2}}
    - flatten: {{}}  # not a global pooling: the class is where the light is
    - dense: {{units: 4, activation: softmax}}
train:
  epochs: 3
  batch_size: 32
  precision: float32
  optimizer: {{name: adam, learning_rate: 0.01}}
"""
PLAIN = """\
    - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
    - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
"""
RESIDUAL = """\
    - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
    - residual:
        layers:
          - separableconv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
          - batchnorm: {}
"""


def _train(tmp_path: Path, layers: str) -> Path:
    data = tmp_path / "quadrants.npz"
    _quadrants(data, 320, seed=0)
    cfg = tmp_path / "quadrants.yaml"
    cfg.write_text(QUADRANTS.format(path=data, layers=layers))
    r = run_cli("train", cfg, "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.stderr
    return Path(json.loads(r.stdout)["run_dir"])


@pytest.mark.slow
def test_grad_cam_lights_the_quadrant_that_decides_the_class(tmp_path: Path):
    from cnnrun.engine.cam import explain

    run = _train(tmp_path, PLAIN)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["test_accuracy"] > 0.9, summary["test"]
    probe = tmp_path / "probe.npz"
    _quadrants(probe, 40, seed=1)
    with np.load(probe) as f:
        x, y = f["x"], f["y"]
    probs, heat, layer = explain(str(run / "best.weights.h5"), x, 1 / 255, None)
    assert layer == "conv2d_1"  # the last convolution
    right = 0
    for h, q in zip(heat, y, strict=True):
        r, c = divmod(int(q), 2)
        inside = h[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8].mean()
        others = [
            h[a * 8 : a * 8 + 8, b * 8 : b * 8 + 8].mean()
            for a in (0, 1)
            for b in (0, 1)
            if (a, b) != (r, c)
        ]
        right += inside > max(others)
    assert right >= 0.9 * len(y), f"{right} of {len(y)} heatmaps lit the deciding quadrant"
    _, paper, _ = explain(str(run / "best.weights.h5"), x, 1 / 255, None, "gradcam")
    assert paper.shape == heat.shape and float(paper.max()) <= 1.0  # the paper's weighting runs

    r = run_cli("inspect", run, "--cam", probe, "-o", tmp_path / "cam.png", "--layer", "0")
    assert r.code == 0, r.stderr
    assert "conv2d_0" in r.stdout and (tmp_path / "cam.png").stat().st_size > 10_000
    r = run_cli("inspect", run, "--cam", "--layer", "3")  # the flatten's output is no map
    assert r.code == 2 and "rows whose output is a map: 0, 1, 2" in r.stderr


@pytest.mark.slow
def test_grad_cam_through_a_residual_block_of_separable_convolutions(tmp_path: Path):
    run = _train(tmp_path, RESIDUAL)
    r = run_cli("inspect", run, "--cam", "--json")
    assert r.code == 0, r.stderr
    drawn = json.loads(r.stdout)
    assert drawn["layer"] == "residual_1"  # the block's output, the last map
    assert Path(drawn["figure"]) == run / "curves" / "cam.png"
    assert (run / "curves" / "cam.png").stat().st_size > 10_000
    r = run_cli("inspect", run, "--errors", "--cam", "-o", tmp_path / "errors.png")
    assert r.code == 0, r.stderr
    assert (tmp_path / "errors.png").stat().st_size > 3_000


@pytest.mark.slow
def test_a_digits_run_reports_its_errors_scores_and_calibration(cli, tiny_config, tmp_path):
    r = cli("train", tiny_config(epochs=2), "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    run = Path(summary["run_dir"])
    scores = summary["test_scores"]
    assert set(scores["per_class"]["3"]) == {"precision", "recall", "f1", "support"}
    assert scores["averages"]["weighted"]["recall"] == pytest.approx(scores["accuracy"])
    calib = summary["calibration"]
    assert calib["set"] == "test set" and len(calib["bins"]) == 10
    assert sum(b["count"] for b in calib["bins"]) == summary["data"]["counts"]["test"]
    assert 0 <= calib["ece"] <= 1
    errors = summary["errors"]
    wrong = round((1 - summary["test"]["test_accuracy"]) * errors["total"])
    assert errors["wrong"] == wrong and len(errors["worst"]) == min(25, wrong)
    said = [e["probability"] for e in errors["worst"]]
    assert said == sorted(said, reverse=True)

    r = cli("inspect", run, "--errors", "--json")
    assert r.code == 0, r.stderr
    drawn = json.loads(r.stdout)
    assert drawn["wrong"] == wrong and Path(drawn["figure"]).stat().st_size > 10_000
    # each error keeps its place in the test set
    assert [e["index"] for e in drawn["errors"]] == [e["index"] for e in errors["worst"]]

    r = cli("report", run)
    assert r.code == 0, r.stderr
    page = (run / "report.html").read_text()
    for text in (
        "name='viewport'",
        "scores per class",
        "macro mean",
        "Calibration (test set)",
        f"{calib['ece']:.4f}",
        "What it gets wrong (test set)",
    ):
        assert text in page, text
    assert "http://" not in page and "https://" not in page  # self-contained
    assert page.count("data:image/png;base64,") >= 5  # curves, confusion, reliability, gallery

    report = tmp_path / "predicted"
    r = cli("predict", "--run", run, "digits:test", "--json", "--report", report)
    assert r.code == 0, r.stderr
    predicted = json.loads(r.stdout)["scores"]
    assert predicted["per_class"]["3"]["f1"] == pytest.approx(scores["per_class"]["3"]["f1"])
    assert "macro" in predicted["averages"] and 0 <= predicted["calibration"]["ece"] <= 1
    for name in ("errors.png", "reliability.png", "confusion_matrix.png", "metrics.json"):
        assert (report / name).stat().st_size > 500, name


@pytest.mark.slow
def test_without_a_test_split_the_validation_set_is_read(cli, tmp_path: Path):
    data = tmp_path / "q.npz"
    _quadrants(data, 200, seed=2)
    with np.load(data) as f:
        np.savez(data, x=f["x"], y=f["y"])  # no test split
    cfg = tmp_path / "q.yaml"
    cfg.write_text(QUADRANTS.format(path=data, layers=PLAIN).replace("epochs: 3", "epochs: 1"))
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["test"] == {} and summary["calibration"]["set"] == "validation set"
    assert summary["errors"]["total"] == summary["data"]["counts"]["validation"]
