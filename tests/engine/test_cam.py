"""`cnnrun.engine.cam`, Grad-CAM: on a network whose class is decided by the bright quadrant
the map lights that quadrant; it runs through residual blocks of separable convolutions; a
row whose output is no map is refused with the rows that are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support import run_cli
from tests.support.data import PLAIN, QUADRANTS, RESIDUAL, quadrants

pytestmark = pytest.mark.slow


def _train(tmp_path: Path, layers: str) -> Path:
    data = tmp_path / "quadrants.npz"
    quadrants(data, 320, seed=0)
    cfg = tmp_path / "quadrants.yaml"
    cfg.write_text(QUADRANTS.format(path=data, layers=layers))
    r = run_cli("train", cfg, "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.stderr
    return Path(json.loads(r.stdout)["run_dir"])


def test_grad_cam_lights_the_quadrant_that_decides_the_class(tmp_path: Path):
    from cnnrun.engine.cam import explain

    run = _train(tmp_path, PLAIN)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["test_accuracy"] > 0.9, summary["test"]
    probe = tmp_path / "probe.npz"
    quadrants(probe, 40, seed=1)
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
