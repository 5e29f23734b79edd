"""`application`, a keras.applications backbone as one layer, checked without TensorFlow:
its row in the layer table, a misspelt name, grey input, an input too small, a weights file
that is not there; a backbone, a head and two phases validated in a process that never
imports TensorFlow; and the table the shape rule reads covers every constructor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnrun.config.layers.backbone_table import BACKBONES
from tests.support import refused
from tests.support.photos import photo_folder

HEAD = """\
    - globalavgpool2d
    - dropout: 0.2
    - dense: {{units: 3, activation: softmax}}
"""


def backbone_config(path: Path, backbone: str, data: str) -> Path:
    """A backbone, a head, and a folder of photos under `path`'s folder (`data` says how)."""
    photo_folder(path.parent / "photos", per_class=2)
    path.write_text(
        f"data: {{{data}}}\nmodel:\n  layers:\n    - application: {backbone}\n" + HEAD.format()
    )
    return path


def photos(size: int = 32, channels: int = 3) -> str:
    return f"source: images, path: photos, image_size: {size}, channels: {channels}"


def test_the_table_has_every_keras_applications_constructor():
    assert len(BACKBONES) == 40
    assert {"MobileNetV3Small", "EfficientNetV2B0", "ConvNeXtTiny", "ResNet50"} <= set(BACKBONES)
    caffe = BACKBONES["ResNet50"]["preprocess"]
    assert caffe["src"] == [2, 1, 0] and caffe["offset"][0] == pytest.approx(-103.939)
    assert BACKBONES["MobileNetV3Small"]["preprocess"]["scale"] == [1.0, 1.0, 1.0]


def test_validate_shows_the_backbone_as_one_row_without_tensorflow(cli, tmp_path: Path):
    cfg = backbone_config(
        tmp_path / "b.yaml", "{name: MobileNetV3Small, weights: none}", photos(64)
    )
    r = cli("validate", cfg, "--json")
    assert r.code == 0, r.stderr
    rows = json.loads(r.stdout)["results"][0]["layers"]
    backbone = rows[0]
    assert backbone["kind"] == "application" and backbone["output_shape"] == [None, 2, 2, 576]
    assert backbone["params"] == BACKBONES["MobileNetV3Small"]["params"] + 3 * 3 + 3
    # random weights: the batchnorms learn by default, all else is frozen
    affine = BACKBONES["MobileNetV3Small"]["batchnorm_affine"]
    assert backbone["trainable_params"] == affine > 0 and backbone["macs"] > 1_000_000


@pytest.mark.parametrize(
    ("backbone", "data", "words"),
    [
        ("{name: MobilenetV3Small}", photos(), ["did you mean 'MobileNetV3Small'?"]),
        ("{name: MobileNetV2, weights: none}", photos(32, 1), ["channels: 3"]),
        ("{name: InceptionV3, weights: none}", photos(64), ["at least 75x75", "got 64x64"]),
        ("{name: ResNet50, weights: nothing.h5}", photos(), ["nothing.h5", "no such file"]),
        ("{name: ResNet50, batchnorm: frozen}", photos(), ["batchnorm", "inference"]),
    ],
)
def test_bad_backbones_are_refused_naming_the_field(cli, tmp_path, backbone, data, words):
    cfg = backbone_config(tmp_path / "b.yaml", backbone, data)
    refused(cli("validate", cfg), "model.layers[0].application", *words)


def test_grey_input_repeated_into_rgb_when_asked(cli, tmp_path: Path):
    backbone = "{name: MobileNetV2, weights: none, grey_to_rgb: true}"
    cfg = backbone_config(tmp_path / "b.yaml", backbone, photos(32, 1))
    r = cli("validate", cfg, "--json")
    assert r.code == 0, r.stderr
    row = json.loads(r.stdout)["results"][0]["layers"][0]
    assert row["params"] == BACKBONES["MobileNetV2"]["params"] + 1 * 3 + 3


PHASED = """\
data: {source: images, path: photos, image_size: 32, channels: 3}
model:
  layers:
    - application: {name: MobileNetV3Small, weights: none}
    - globalavgpool2d
    - dense: {units: 3, activation: softmax}
train:
  phases:
    - {epochs: 1, trainable: head, learning_rate: 0.01}
    - {epochs: 1, trainable: last 12, learning_rate: 0.001}
"""

VALIDATE = """\
import json, sys
from typer.testing import CliRunner
from cnnrun.cli import app
r = CliRunner().invoke(app, ["validate", "phased.yaml", "--json"])
assert r.exit_code == 0, r.output
heavy = [m for m in ("tensorflow", "keras") if m in sys.modules]
assert not heavy, heavy
print(r.stdout)
"""


def test_a_backbone_and_two_phases_validate_without_importing_tensorflow(tmp_path: Path):
    photo_folder(tmp_path / "photos", per_class=2)
    (tmp_path / "phased.yaml").write_text(PHASED)
    r = subprocess.run(
        [sys.executable, "-c", VALIDATE], cwd=tmp_path, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)["results"]
    assert result["valid"] and [row["kind"] for row in result["layers"]] == [
        "application",
        "globalavgpool2d",
        "dense",
    ]
