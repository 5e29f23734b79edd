"""`application` built: a backbone from a weights file gives, on cnnrun's [0, 1] pixels, what
`keras.applications`' own model gives on `preprocess_input` of the raw pixels, for each
family's preprocessing (tf's -1..1, caffe's BGR means, torch's ImageNet statistics, and the
families that carry their own); a frozen backbone's batchnorms keep their statistics through
training; ImageNet weights offline fail fast with one line naming the file and folder."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from cnnrun.config.schema import Config
from tests.support.photos import photo_folder

pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")


def _config(layers: list, shape: tuple[int, int, int]) -> Config:
    cfg = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"input_shape": shape})})


@pytest.mark.parametrize("name", ["MobileNetV2", "VGG16", "DenseNet121", "MobileNetV3Small"])
def test_a_backbone_sees_what_keras_preprocess_input_gives(name: str, tmp_path: Path):
    from cnnrun.engine.model import build_model
    from cnnrun.engine.pretrained import load_pretrained

    shape = (32, 32, 3)
    family = getattr(keras.applications, name)
    theirs = family(include_top=False, weights=None, input_shape=shape)
    rng = np.random.default_rng(0)
    theirs.set_weights([rng.normal(0, 0.05, w.shape).astype("float32") for w in theirs.weights])
    theirs.save_weights(tmp_path / "bb.weights.h5")
    backbone = {"application": {"name": name, "weights": str(tmp_path / "bb.weights.h5")}}
    cfg = _config([backbone, "globalavgpool2d", {"dense": {"units": 3}}], shape)
    ours = build_model(cfg, compile=False)
    load_pretrained(ours, cfg)
    features = keras.Model(ours.inputs, ours.get_layer("globalavgpool2d_1").output)

    raw = rng.integers(0, 256, (4, *shape)).astype("float32")
    module = sys.modules[family.__module__]
    expected = keras.layers.GlobalAveragePooling2D()(theirs(module.preprocess_input(raw.copy())))
    got = features(raw / 255.0)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5 * max(scale, 1))


@pytest.mark.parametrize(
    ("trainable", "batchnorm", "moves"),
    [(False, "inference", False), (True, "inference", False), (False, "train", True)],
)
def test_a_backbones_batchnorms_move_only_when_asked(trainable: bool, batchnorm: str, moves: bool):
    """Frozen or training, `inference` batchnorms keep their statistics under a training
    step: a functional model's `training=True` reaches an inner call's `training=False`."""
    from cnnrun.engine.model import build_model

    backbone = {
        "name": "MobileNet",
        "weights": "none",
        "trainable": trainable,
        "batchnorm": batchnorm,
    }
    layers = [{"application": backbone}, "globalavgpool2d", {"dense": {"units": 3}}]
    model = build_model(_config(layers, (32, 32, 3)), compile=False)
    bns = [
        x
        for x in model.get_layer("application_0").layers
        if isinstance(x, keras.layers.BatchNormalization)
    ]
    before = [np.array(b.moving_mean) for b in bns]
    x = np.random.default_rng(1).random((16, 32, 32, 3)).astype("float32")
    model(x, training=True)  # a training step's forward pass, which updates statistics
    moved = max(
        float(np.abs(np.array(b.moving_mean) - m).max()) for b, m in zip(bns, before, strict=True)
    )
    assert (moved > 1e-4) is moves and (moves or moved < 1e-7), moved
    counted = backbone_step(backbone, (32, 32, 3)).trainable
    assert counted == sum(
        int(np.prod(w.shape)) for w in model.get_layer("application_0").trainable_weights
    )


def backbone_step(args: dict, shape: tuple[int, int, int]):
    from cnnrun.config.layers import LayerEntry

    entry = LayerEntry.parse({"application": args})
    return entry.args.output(shape, ("model", "layers", 0), None)


def test_imagenet_weights_offline_fail_fast_naming_the_file(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """In this process, with name lookups refused (as offline) and an empty Keras home:
    Keras reads $KERAS_HOME once, at import, so its copy is pointed there too."""
    photo_folder(tmp_path / "photos", per_class=2)
    cfg = tmp_path / "b.yaml"
    cfg.write_text(
        "data: {source: images, path: photos, image_size: 32}\nmodel:\n  layers:\n"
        "    - application: {name: MobileNetV3Small, weights: imagenet}\n"
        "    - globalavgpool2d\n    - dense: {units: 3, activation: softmax}\n"
        "train: {epochs: 1}\n"
    )
    home = tmp_path / "keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(home))
    asked: list[str] = []

    def offline(host: object, *args: object, **kwargs: object) -> NoReturn:
        asked.append(str(host))
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    t0 = time.perf_counter()
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs")
    took = time.perf_counter() - t0
    assert asked, "the download never reached the network"
    assert r.code == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "MobileNetV3Small's ImageNet weights" in r.stderr
    assert "name resolution" in r.stderr  # the cause, as the download met it
    assert str(home / "models") in r.stderr and ".h5" in r.stderr
    assert not (tmp_path / "runs").exists()
    assert took < 10, took
