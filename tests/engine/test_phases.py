"""A backbone fine-tuned in phases, as a user runs it: a pretrained backbone from a weights
file and a head, a frozen phase then an open one, one run folder through both; the config
validates; `--set train.epochs=1` runs the first phase's first epoch; a resume across the
phase boundary; a frozen backbone's batchnorm statistics untouched by training and by
precise statistics (changed with `batchnorm: train`: tests/engine/test_backbones.py);
predict and every export format without a download.

One run, trained once for the module (each `train` of a MobileNetV3Small spends seconds
tracing it): the tests only read it, and the export goes into the test's own folder."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnnrun.runs.names import REFERENCE
from tests.support import only_run, run_cli
from tests.support.photos import photo_folder

pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")

CONFIG = """\
name: transfer
seed: 4
data: {{source: images, path: photos, image_size: 32, channels: 3}}
model:
  layers:
    - application: {{name: MobileNetV3Small, weights: {weights}, batchnorm: inference}}
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


def _statistics(backbone: Any) -> dict[str, np.ndarray]:
    """Every batchnorm's moving mean and variance in a backbone, by layer name."""
    return {
        f"{layer.name}/{v.name}": np.array(v)
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for v in (layer.moving_mean, layer.moving_variance)
    }


@dataclass(frozen=True)
class Phased:
    """The phased run: its config and folder, the pretrained backbone's batchnorm statistics,
    what `validate` said, the summary after the smoke epoch, and a copy of the weights file
    the smoke epoch (the frozen head phase) wrote."""

    config: Path
    run: Path
    pretrained: dict[str, np.ndarray]
    validated: dict
    smoke_summary: dict
    after_head_phase: Path


@pytest.fixture(scope="module")
def phased(tmp_path_factory: pytest.TempPathFactory) -> Phased:
    """A MobileNetV3Small's own weights file (as a user saves a backbone, its batchnorms
    holding statistics no batch of these photos would give), a phased config from it,
    validated, trained one epoch (`--set train.epochs=1`) and resumed into the second phase."""
    root = tmp_path_factory.mktemp("phased")
    backbone = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    rng = np.random.default_rng(3)
    bns = [x for x in backbone.layers if isinstance(x, keras.layers.BatchNormalization)]
    for bn in bns:  # statistics of some pictures first: the features then tell inputs apart
        bn.momentum = 0.0
    backbone(rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32"), training=True)
    for bn in bns:  # then moved off them, where no batch of these photos would put them
        bn.momentum = 0.999
        std = np.sqrt(np.asarray(bn.moving_variance))
        bn.moving_mean.assign(bn.moving_mean + rng.normal(0, 0.2, std.shape) * std)
        bn.moving_variance.assign(bn.moving_variance * rng.uniform(0.7, 1.4, std.shape))
    backbone.save_weights(root / "mobilenet.weights.h5")
    photo_folder(root / "photos", per_class=4)
    cfg = root / "transfer.yaml"
    cfg.write_text(CONFIG.format(weights=root / "mobilenet.weights.h5"))

    checked = run_cli("validate", cfg, "--json")
    assert checked.code == 0, checked.stderr
    smoke = run_cli("train", cfg, "--runs-dir", root / "runs", "--set", "train.epochs=1")
    assert smoke.code == 0, smoke.stderr
    run = only_run(root / "runs")
    smoke_summary = json.loads((run / "summary.json").read_text())
    head_phase = shutil.copy(run / "last.weights.h5", root / "head-phase.weights.h5")
    more = run_cli("train", "--resume", run, "--epochs", "2")  # into the second phase
    assert more.code == 0, more.stderr
    return Phased(
        cfg,
        run,
        _statistics(backbone),
        json.loads(checked.stdout),
        smoke_summary,
        Path(head_phase),
    )


def test_the_config_validates_with_the_backbone_as_one_frozen_row(phased: Phased):
    (result,) = phased.validated["results"]
    assert result["valid"] and not result["errors"]
    kinds = [row["kind"] for row in result["layers"]]
    assert kinds == ["application", "globalavgpool2d", "batchnorm", "dense"]
    assert result["layers"][0]["trainable_params"] == 0  # frozen, its batchnorms in inference


def test_two_phases_in_one_run_folder(cli, phased: Phased):
    run = phased.run
    assert phased.smoke_summary["epochs_run"] == 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and [p["first_epoch"] for p in summary["phases"]] == [1, 2]
    assert summary["phases"][1]["trainable"] == "last 12"
    assert (run / "curves" / "loss.png").exists()
    bn = json.loads(cli("inspect", run, "--bn", "--json").stdout)
    assert [row["where"] for row in bn["batchnorm"]] == ["model.layers[2].batchnorm"]
    (backbone,) = bn["backbones"]  # its batchnorms apart, not measured as the head's are
    assert backbone["backbone"] == "MobileNetV3Small" and backbone["batchnorms"] > 20


def test_a_frozen_backbone_keeps_its_batchnorm_statistics(phased: Phased):
    """Through the frozen head phase with precise statistics (the head's batchnorm) before
    its validation, and through the open phase after it; `batchnorm: train` is
    tests/engine/test_backbones.py's."""
    from cnnrun.engine.predict import load_model

    before = phased.pretrained
    assert len(before) > 50
    assert phased.smoke_summary["batchnorm"]["stats"] == "precise"
    model, _ = load_model(phased.after_head_phase)
    for weights in (phased.after_head_phase, phased.run / "last.weights.h5"):
        keras.saving.load_weights(model, weights)
        after = _statistics(model.get_layer("application_0"))
        assert after.keys() == before.keys()
        moved = max(float(np.abs(after[k] - v).max()) for k, v in before.items())
        assert moved < 1e-7, (weights.name, moved)


def test_the_phased_run_predicts_and_exports_every_format_offline(
    cli, phased: Phased, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # nothing may download now: the run's weights file has everything
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    p = cli("predict", "--run", phased.run, phased.config.parent / "photos", "--format", "json")
    assert p.code == 0, p.stderr
    assert 0 <= json.loads(p.stdout)["scores"]["accuracy"] <= 1
    e = cli("export", phased.run, "--format", "all", "--json", "-o", tmp_path / "export")
    assert e.code == 0, e.stderr
    checked = json.loads(e.stdout)["artifacts"]
    assert sorted(a["format"] for a in checked if a["ok"]) == [
        "keras",
        "litert",
        "onnx",
        "savedmodel",
    ]
    assert all(Path(a["path"]).exists() and a["max_diff"] <= 1e-4 for a in checked), checked
    # each runtime matched probabilities that differ from image to image: the network's
    # answers, not a constant any artifact would give
    with np.load(tmp_path / "export" / REFERENCE) as ref:
        assert len(ref["x"]) >= 2 and np.ptp(ref["probabilities"], axis=0).max() > 0.1
