"""`cnnrun inspect --bn` (cnnrun.engine.inspect_bn): batchnorm's variance shift measured on a
real run, its two causes (Dropout's shift, the moving averages' lag) told apart, and located
by field path inside blocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CONFIG = """\
name: shift
seed: 1
data: {source: digits}
model:
  layers:
    - conv2d: {filters: 16, kernel_size: 3, padding: same, activation: linear, use_bias: false}
    - batchnorm: {momentum: 0.6}
    - activation: relu
    - dropout: 0.5
    - batchnorm: {momentum: 0.6}
    - conv2d: {filters: 16, kernel_size: 3, padding: same}
    - flatten: {}
    - dense: {units: 10, activation: softmax}
train: {epochs: 3, batchnorm_stats: moving}  # the moving averages are what is inspected
"""


def test_dropout_before_batchnorm_shows_variance_shift(cli, tmp_path: Path):
    cfg = tmp_path / "shift.yaml"
    cfg.write_text(CONFIG)
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    assert "variance shift" in r.stderr  # the placement warning
    (run,) = (tmp_path / "runs").iterdir()
    r = cli("inspect", run, "--bn", "--json")
    assert r.code == 0, r.stderr
    rows = {row["after"]: row for row in json.loads(r.stdout)["batchnorm"]}
    # momentum 0.6 lets the moving statistics settle within 3 epochs
    assert 0.8 < rows["conv2d"]["ratio_median"] < 1.25  # no dropout before it: no shift
    assert rows["dropout"]["ratio_median"] > 1.6  # dropout 0.5: about 1 / (1 - 0.5) = 2
    # the two causes apart: the shift is dropout's, not a lag of the averages
    assert rows["dropout"]["dropout_shift_median"] > 1.6
    assert 0.8 < rows["dropout"]["lag_median"] < 1.25
    assert 0.8 < rows["conv2d"]["dropout_shift_median"] < 1.25
    r = cli("inspect", run, "--bn")
    assert "model.layers[4]" in r.stdout and "dropout" in r.stdout
    assert cli("inspect", run).code == 2
    assert cli("inspect", tmp_path, "--bn").code == 2


def test_precise_statistics_remove_both_lag_and_shift(cli, tmp_path: Path):
    cfg = tmp_path / "shift.yaml"
    cfg.write_text(CONFIG.replace("batchnorm_stats: moving", "batchnorm_stats: precise"))
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet").code == 0
    (run,) = (tmp_path / "runs").iterdir()
    rows = json.loads(cli("inspect", run, "--bn", "--json").stdout)["batchnorm"]
    # recomputed with dropout off: what validation sees is the test-time variance
    assert all(0.8 < r["ratio_median"] < 1.25 for r in rows), rows


def test_batchnorms_inside_residual_blocks_are_located_by_their_field_path(cli, tmp_path: Path):
    config = tmp_path / "res.yaml"
    config.write_text(
        """\
data: {source: digits}
model:
  layers:
    - conv2d: {filters: 8, padding: same}
    - residual:
        layers:
          - conv2d: {filters: 8, padding: same, activation: linear}
          - dropout: 0.5
          - batchnorm: {momentum: 0.9}
    - globalavgpool2d
    - dense: {units: 10, activation: softmax}
train: {epochs: 2, batch_size: 64, precision: float32, batchnorm_stats: moving}
"""
    )
    r = cli("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    r = cli("inspect", run, "--bn", "--json")
    assert r.code == 0, r.stderr
    (row,) = json.loads(r.stdout)["batchnorm"]
    assert row["where"] == "model.layers[1].residual.layers[2].batchnorm"
    assert row["after"] == "dropout" and row["dropout_shift_median"] > 1.3
