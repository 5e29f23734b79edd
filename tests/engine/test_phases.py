"""A backbone fine-tuned in phases, as a user runs it: a pretrained backbone from a weights
file and a head, a frozen phase then an open one, one run folder through both; `--set
train.epochs=1` runs the first phase's first epoch; a resume across the phase boundary;
a frozen backbone's batchnorm statistics untouched by training and by precise statistics,
and changed with `batchnorm: train`; predict and every export format without a download."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.support import only_run
from tests.support.photos import photo_folder

pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")

CONFIG = """\
name: transfer
seed: 4
data: {{source: images, path: photos, image_size: 32, channels: 3}}
model:
  layers:
    - application: {{name: MobileNetV3Small, weights: {weights}, batchnorm: {bn}}}
    - globalavgpool2d
    - batchnorm
    - dense: {{units: 3, activation: softmax}}
train:
  batch_size: 8
  precision: float32
  phases:
    - {{epochs: 1, trainable: head, learning_rate: 0.01}}
    - {{epochs: 1, trainable: last 12, learning_rate: 0.001}}
"""


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A MobileNetV3Small's own weights file, as a user saves a backbone."""
    folder = tmp_path_factory.mktemp("pretrained")
    model = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    rng = np.random.default_rng(3)
    for layer in model.layers:  # statistics no batch of these photos would give
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    model.save_weights(folder / "mobilenet.weights.h5")
    return folder / "mobilenet.weights.h5"


def _config(tmp_path: Path, weights: Path, bn: str = "inference") -> Path:
    photo_folder(tmp_path / "photos", per_class=4)
    cfg = tmp_path / "transfer.yaml"
    cfg.write_text(CONFIG.format(weights=weights, bn=bn))
    return cfg


def _statistics(backbone) -> dict[str, np.ndarray]:
    """Every batchnorm's moving mean and variance in a backbone, by layer name."""
    return {
        f"{layer.name}/{v.name}": np.array(v)
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for v in (layer.moving_mean, layer.moving_variance)
    }


def _pretrained_statistics(path: Path) -> dict[str, np.ndarray]:
    model = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    model.load_weights(path)
    return _statistics(model)


def _run_statistics(weights: Path) -> dict[str, np.ndarray]:
    from cnnrun.engine.predict import load_model

    model, _ = load_model(weights)
    return _statistics(model.get_layer("application_0"))


def test_two_phases_in_one_run_folder_predict_and_export(cli, tmp_path, pretrained):
    cfg = _config(tmp_path, pretrained)
    smoke = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--set", "train.epochs=1")
    assert smoke.code == 0, smoke.stderr
    run = only_run(tmp_path / "runs")
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == 1
    more = cli("train", "--resume", run, "--epochs", "2")  # into the second phase
    assert more.code == 0, more.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and [p["first_epoch"] for p in summary["phases"]] == [1, 2]
    assert summary["phases"][1]["trainable"] == "last 12"
    assert (run / "curves" / "loss.png").exists()
    bn = json.loads(cli("inspect", run, "--bn", "--json").stdout)
    assert [row["where"] for row in bn["batchnorm"]] == ["model.layers[2].batchnorm"]
    (backbone,) = bn["backbones"]  # its batchnorms apart, not measured as the head's are
    assert backbone["backbone"] == "MobileNetV3Small" and backbone["batchnorms"] > 20

    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "KERAS_HOME": str(tmp_path / "empty")}
    os.environ.update(env)  # nothing may download now: the weights file has everything
    try:
        p = cli("predict", "--run", run, tmp_path / "photos", "--format", "json")
        e = cli("export", run, "--format", "all", "--json")
    finally:
        for k in env:
            os.environ.pop(k)
    assert p.code == 0, p.stderr
    assert 0 <= json.loads(p.stdout)["scores"]["accuracy"] <= 1
    assert e.code == 0, e.stderr
    checked = json.loads(e.stdout)["artifacts"]
    assert sorted(a["format"] for a in checked if a["ok"]) == [
        "keras",
        "litert",
        "onnx",
        "savedmodel",
    ]


def test_a_frozen_backbone_keeps_its_batchnorm_statistics(cli, tmp_path, pretrained):
    """Through a phase of training and precise statistics (the head's batchnorm) before its
    validation; `batchnorm: train` is tests/engine/test_backbones.py's."""
    before = _pretrained_statistics(pretrained)
    assert len(before) > 50
    cfg = _config(tmp_path, pretrained)
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--set", "train.epochs=1")
    assert r.code == 0, r.stderr
    run = only_run(tmp_path / "runs")
    assert json.loads((run / "summary.json").read_text())["batchnorm"]["stats"] == "precise"
    after = _run_statistics(run / "last.weights.h5")
    assert after.keys() == before.keys()
    assert max(float(np.abs(after[k] - v).max()) for k, v in before.items()) < 1e-7
