"""`cnnrun.interop.keras.layers`, one Keras layer mapped to a cnnrun kind: a Lambda layer is
refused by every command and its code never runs; an argument a kind keeps is kept even at a
value another class must have."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def test_lambda_layer_is_refused_and_never_runs(cli, tmp_path):
    marker = tmp_path / "ran"
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: t * 2)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "lambda.keras"
    model.save(path)
    # rewrite the Lambda's function so that running it would leave a file behind
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            layer["config"]["function"] = {
                "class_name": "__lambda__",
                "config": {
                    "code": f"open({str(marker)!r}, 'w').write('x')",
                    "defaults": None,
                    "closure": None,
                },
            }
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 8, 8, 1), np.float32))
    commands = [
        ("predict", "--weights", path, tmp_path / "x.npz"),
        ("import", path, "-o", tmp_path / "o"),
        ("export", path, "-o", tmp_path / "e"),
    ]
    for args in commands:
        r = cli(*args)
        assert r.code == 2 and "Lambda layer" in r.stderr and "Traceback" not in r.stderr
    assert not marker.exists() and not (tmp_path / "o").exists() and not (tmp_path / "e").exists()


def test_an_argument_that_is_kept_is_kept_even_at_a_value_another_class_must_have():
    """`groups: 1` must be 1 for a Conv2D; for a GroupNormalization it is the argument."""
    from cnnrun.interop.keras.layers import map_layer

    layer = {"class_name": "GroupNormalization", "config": {"groups": 1, "epsilon": 0.001}}
    assert map_layer(Path("m.keras"), 1, layer, []) == {
        "groupnorm": {"groups": 1, "epsilon": 0.001}
    }
