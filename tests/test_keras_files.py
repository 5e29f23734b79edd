"""Keras in and out: the seed's Keras models predicted and imported, cnnrun runs exported to
four formats and checked in their runtimes, and hostile model files refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

keras = pytest.importorskip("keras")


def seed_dropout_model() -> keras.Model:
    """The seed's Dropout example, as it writes it (3 classes)."""
    from keras.layers import Conv2D, Dense, Dropout, Flatten
    from keras.models import Sequential

    model = Sequential()
    model.add(keras.Input(shape=(8, 8, 1)))
    model.add(Conv2D(5, (3, 3), activation="relu"))
    model.add(Dropout(0.25))
    model.add(Conv2D(15, (3, 3), activation="relu"))
    model.add(Flatten())
    model.add(Dense(3, activation="softmax"))
    return model


def seed_batchnorm_model() -> keras.Model:
    """The seed's BatchNormalization example (3 classes)."""
    from keras.layers import BatchNormalization, Conv2D, Dense, Flatten
    from keras.models import Sequential

    model = Sequential()
    model.add(keras.Input(shape=(8, 8, 1)))
    model.add(Conv2D(5, (3, 3), activation="relu"))
    model.add(BatchNormalization())
    model.add(Conv2D(15, (3, 3), activation="relu"))
    model.add(Flatten())
    model.add(Dense(3, activation="softmax"))
    return model


@pytest.fixture(scope="module")
def digits3(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """Three classes of the built-in digits as float32 in [0, 1], an .npz for cnnrun."""
    from cnnrun.config.schema import DataConfig
    from cnnrun.data.sources import load_dataset

    ds, _ = load_dataset(DataConfig(source="digits"), Path("."))
    keep = ds.y < 3
    x, y = (ds.x[keep] * ds.scale).astype(np.float32), ds.y[keep]
    path = tmp_path_factory.mktemp("data") / "digits3.npz"
    np.savez(path, x=x, y=y)
    return path, x, y


def _train(model: keras.Model, x: np.ndarray, y: np.ndarray) -> keras.Model:
    keras.utils.set_random_seed(0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return model


def _predict(cli, weights: Path, inputs: Path, *extra: str) -> tuple[np.ndarray, dict]:
    r = cli("predict", "--weights", weights, inputs, "--format", "json", "--probs", *extra)
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    probs = np.array([[row[f"p:{c}"] for c in ("0", "1", "2")] for row in doc["predictions"]])
    return probs, doc


@pytest.mark.parametrize("build", [seed_dropout_model, seed_batchnorm_model])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_seed_models_predict_and_import_like_keras(cli, digits3, tmp_path, build, suffix):
    path, x, y = digits3
    model = _train(build(), x, y)
    saved = tmp_path / f"seed{suffix}"
    model.save(saved)
    expected = model.predict(x, verbose=0)
    probs, doc = _predict(cli, saved, path)
    # rounded to 6 decimals by predict's output
    assert np.max(np.abs(probs - expected)) <= 1e-6 + 5e-7
    assert any("class indices" in a for a in doc["assumed"])
    assert any("as they are stored" in a for a in doc["assumed"])
    r = cli("import", saved, "-o", tmp_path / "imported")
    assert r.code == 0, r.stderr
    assert (
        "data: none is the one thing to fill in"
        in (tmp_path / "imported" / "seed.yaml").read_text()
    )
    again, _ = _predict(cli, tmp_path / "imported" / "seed.weights.h5", path)
    assert np.max(np.abs(again - expected)) <= 1e-6 + 5e-7
    r = cli("validate", tmp_path / "imported" / "seed.yaml")
    assert r.code == 2 and "data.source: no data yet" in r.stderr
    if suffix == ".keras":  # a user's own model exports without a cnnrun run
        r = cli("export", saved, "--format", "onnx", "--json")
        assert r.code == 0, r.stderr
        assert json.loads(r.stdout)["artifacts"][0]["max_diff"] <= 1e-4


def test_imported_config_trains_and_fine_tunes_from_the_imported_weights(cli, digits3, tmp_path):
    path, x, y = digits3
    saved = tmp_path / "m.keras"
    _train(seed_dropout_model(), x, y).save(saved)
    r = cli("import", saved, "-o", tmp_path, "--data", f"npz:{path}")
    assert r.code == 0, r.stderr
    assert "total params: 1,463" in r.stdout  # the layer table of the written config
    r = cli(
        "train",
        tmp_path / "m.yaml",
        "--init-weights",
        tmp_path / "m.weights.h5",
        "--runs-dir",
        tmp_path / "runs",
        "--quiet",
        "--set",
        "train.epochs=1",
    )
    assert r.code == 0, r.stderr


def test_export_import_round_trip_gives_the_same_config_and_predictions(cli, tiny_config, tmp_path):
    r = cli("train", tiny_config(2), "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    r = cli("export", run, "--format", "keras", "-o", tmp_path / "out")
    assert r.code == 0, r.stderr
    r = cli("import", tmp_path / "out" / "model.keras", "-o", tmp_path / "back")
    assert r.code == 0, r.stderr
    original = yaml.safe_load((run / "config.yaml").read_text())
    back = yaml.safe_load((tmp_path / "back" / "model.yaml").read_text())
    assert back == original
    a, _ = _predict_any(cli, run / "best.weights.h5")
    b, _ = _predict_any(cli, tmp_path / "back" / "model.weights.h5")
    assert np.array_equal(a, b)


def _predict_any(cli, weights: Path) -> tuple[np.ndarray, dict]:
    r = cli("predict", "--weights", weights, "digits:test", "--format", "json", "--probs")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    return np.array(
        [[v for k, v in row.items() if k.startswith("p:")] for row in doc["predictions"]]
    ), doc


def test_export_all_four_formats_verified_in_their_runtimes(cli, tiny_config, tmp_path):
    r = cli("train", tiny_config(1), "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    r = cli("export", run, "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [a["format"] for a in doc["artifacts"]] == ["keras", "savedmodel", "onnx", "litert"]
    assert all(a["ok"] and a["max_diff"] <= 1e-4 for a in doc["artifacts"])
    out = run / "export"
    side = json.loads((out / "model.onnx.json").read_text())
    assert side["class_names"] == [str(i) for i in range(10)] and side["input_shape"] == [
        None,
        8,
        8,
        1,
    ]
    # the deployment snippets of the README, in their runtimes
    import onnxruntime

    x = np.load(out / "reference.npz")["x"][:1]
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    p = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert p.shape == (1, 10)
    assert cli("export", "--verify", out).code == 0
    _readme_deploy_snippets_classify_a_digit(cli, run)
    # weights changed after export: --verify fails with exit 1 and names the format
    model = keras.saving.load_model(out / "model.keras")
    model.layers[-1].set_weights([w * 1.5 for w in model.layers[-1].get_weights()])
    model.save(out / "model.keras")
    r = cli("export", "--verify", out)
    assert r.code == 1 and "keras disagrees with cnnrun" in r.stderr
    # nothing is overwritten
    r = cli("export", run, "--format", "onnx")
    assert r.code == 2 and "does not overwrite" in r.stderr


def test_quantized_litert_is_checked_against_accuracy(cli, tiny_config, tmp_path):
    r = cli("train", tiny_config(2), "--runs-dir", tmp_path / "runs", "--quiet")
    (run,) = (tmp_path / "runs").iterdir()
    r = cli(
        "export", run, "--format", "litert", "--quantize", "int8", "--json", "-o", tmp_path / "q"
    )
    assert r.code == 0, r.stderr
    (art,) = json.loads(r.stdout)["artifacts"]
    assert art["quantize"] == "int8" and art["accuracy"] >= art["reference_accuracy"] - 0.01


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


def test_missing_export_packages_name_the_extra(monkeypatch):
    import importlib.util

    from cnnrun.app.keras_io import require_packages
    from cnnrun.errors import UserError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n: None if n == "onnxruntime" else real(n)
    )
    with pytest.raises(UserError, match=r"cnnrun\[export\]"):
        require_packages(["onnx"])
    require_packages(["keras", "savedmodel"])


def _readme_deploy_snippets_classify_a_digit(cli, run: Path) -> None:
    """The README's Deploy snippets, run as written from the run folder on one digit image,
    agree with `cnnrun predict`."""
    import re
    import subprocess
    import sys

    from PIL import Image

    from cnnrun.config.schema import DataConfig
    from cnnrun.data.sources import load_dataset

    ds, _ = load_dataset(DataConfig(source="digits"), Path("."))
    i = int(np.flatnonzero(ds.y == 3)[0])
    Image.fromarray((ds.x[i, ..., 0] * ds.scale * 255).astype(np.uint8)).save(run / "digit.png")
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Deploy") : readme.index("## Commands")]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    r = subprocess.run([sys.executable, "-c", code], cwd=run, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    predicted = cli("predict", "--run", run, run / "digit.png").stdout.splitlines()[1].split(",")[1]
    assert r.stdout.split() == [predicted] * 4


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
    probs, _ = _predict(cli, tmp_path / "res.weights.h5", tmp_path / "x.npz")
    assert np.max(np.abs(probs - model.predict(x, verbose=0))) <= 1e-6 + 5e-7


def test_an_argument_that_is_kept_is_kept_even_at_a_value_another_class_must_have():
    """`groups: 1` must be 1 for a Conv2D; for a GroupNormalization it is the argument."""
    from cnnrun.interop.keras.layers import map_layer

    layer = {"class_name": "GroupNormalization", "config": {"groups": 1, "epsilon": 0.001}}
    assert map_layer(Path("m.keras"), 1, layer, []) == {
        "groupnorm": {"groups": 1, "epsilon": 0.001}
    }
