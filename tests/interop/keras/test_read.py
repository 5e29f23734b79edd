"""`cnnrun.interop.keras.read` and `.mapping`, a Keras file read before Keras deserialises
anything: a truncated archive, a `.keras` named `.h5`, an `.h5` without weights or input
shape, a model of two inputs or one whose output is no class distribution: one plain line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.keras_models import seed_dropout_model

keras = pytest.importorskip("keras")


def test_odd_model_files_get_one_plain_line(cli, tmp_path):
    x = tmp_path / "x.npz"
    np.savez(x, x=np.zeros((2, 8, 8, 1), np.float32))
    model = seed_dropout_model()
    model.save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "truncated.keras").write_bytes(data[: len(data) // 2])
    (tmp_path / "renamed.h5").write_bytes(data)
    import h5py

    with h5py.File(tmp_path / "noconfig.h5", "w") as f:
        f.create_group("model_weights")
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    a = keras.Input((8, 8, 1))
    b = keras.Input((8, 8, 1))
    two = keras.Model(
        [a, b],
        keras.layers.Dense(3, activation="softmax")(
            keras.layers.Flatten()(keras.layers.Add()([a, b]))
        ),
    )
    two.save(tmp_path / "two.keras")
    regress = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="relu")]
    )
    regress.save(tmp_path / "regress.keras")
    cases = {
        "truncated.keras": "truncated or damaged",
        "renamed.h5": "is a .keras zip archive named .h5",
        "noconfig.h5": "input shape",
        "plain.h5": "holds no Keras weights",
        "two.keras": "inputs",
        "regress.keras": "not a class distribution",
    }
    for name, expected in cases.items():
        r = cli("predict", "--weights", tmp_path / name, x)
        assert r.code == 2, (name, r.stderr)
        assert expected in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr
