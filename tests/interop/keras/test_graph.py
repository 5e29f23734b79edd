"""`cnnrun.interop.keras.graph`: a functional model's Add layers read as residual blocks,
identity and projection shortcuts, importing and predicting as Keras does."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tests.support.keras_models import predict_probs

keras = pytest.importorskip("keras")


def test_functional_residual_model_imports_as_residual_blocks(cli, tmp_path):
    L = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(8, 3, padding="same")(inputs)
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(x))
    x = L.Activation("relu")(L.Add()([y, x]))  # identity shortcut
    short = L.Conv2D(16, 1, strides=2)(x)
    y = L.Conv2D(16, 3, strides=2, padding="same")(x)
    x = L.ReLU()(L.Add()([short, y]))  # projection shortcut, first in the Add
    outputs = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "res.keras")
    r = cli("import", tmp_path / "res.keras", "-o", tmp_path)
    assert r.code == 0, r.stderr
    layers = yaml.safe_load((tmp_path / "res.yaml").read_text())["model"]["layers"]
    assert [next(iter(e)) for e in layers] == [
        "conv2d",
        "residual",
        "residual",
        "globalavgpool2d",
        "dense",
    ]
    assert layers[1]["residual"].get("shortcut", "identity") == "identity"
    assert layers[2]["residual"]["shortcut"] == "projection"
    assert "kernel_size" not in layers[0]["conv2d"]  # [3, 3] is 3, the default, left out
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    probs, _ = predict_probs(cli, tmp_path / "res.weights.h5", tmp_path / "x.npz")
    assert np.max(np.abs(probs - model.predict(x, verbose=0))) <= 1e-6 + 5e-7
