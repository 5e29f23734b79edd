"""`cnnrun import` and `cnnrun export` (cnnrun.app.keras_io): the seed's Keras models predict
and import as Keras predicts them, an imported config trains from its weights, a run exported
and imported again is the same config and predictions, and a missing extra is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.support.keras_models import (
    digits3,
    fit_one_epoch,
    predict_any,
    predict_probs,
    seed_batchnorm_model,
    seed_dropout_model,
)

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def three_digits(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """Three classes of the built-in digits as float32 in [0, 1], an .npz for cnnrun."""
    return digits3(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("build", [seed_dropout_model, seed_batchnorm_model])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_seed_models_predict_and_import_like_keras(cli, three_digits, tmp_path, build, suffix):
    path, x, y = three_digits
    model = fit_one_epoch(build(), x, y)
    saved = tmp_path / f"seed{suffix}"
    model.save(saved)
    expected = model.predict(x, verbose=0)
    probs, doc = predict_probs(cli, saved, path)
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
    again, _ = predict_probs(cli, tmp_path / "imported" / "seed.weights.h5", path)
    assert np.max(np.abs(again - expected)) <= 1e-6 + 5e-7
    r = cli("validate", tmp_path / "imported" / "seed.yaml")
    assert r.code == 2 and "data.source: no data yet" in r.stderr
    if suffix == ".keras":  # a user's own model exports without a cnnrun run
        r = cli("export", saved, "--format", "onnx", "--json")
        assert r.code == 0, r.stderr
        assert json.loads(r.stdout)["artifacts"][0]["max_diff"] <= 1e-4


def test_imported_config_trains_and_fine_tunes_from_the_imported_weights(
    cli, three_digits, tmp_path
):
    path, x, y = three_digits
    saved = tmp_path / "m.keras"
    fit_one_epoch(seed_dropout_model(), x, y).save(saved)
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


def test_export_import_round_trip_gives_the_same_config_and_predictions(cli, digits_run, tmp_path):
    run = digits_run.path
    r = cli("export", run, "--format", "keras", "-o", tmp_path / "out")
    assert r.code == 0, r.stderr
    r = cli("import", tmp_path / "out" / "model.keras", "-o", tmp_path / "back")
    assert r.code == 0, r.stderr
    original = yaml.safe_load((run / "config.yaml").read_text())
    back = yaml.safe_load((tmp_path / "back" / "model.yaml").read_text())
    assert back == original
    a, _ = predict_any(cli, run / "best.weights.h5")
    b, _ = predict_any(cli, tmp_path / "back" / "model.weights.h5")
    assert np.array_equal(a, b)


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


def _fine_tuned(family: str = "MobileNet", **base_kw) -> Any:
    """A user's fine-tuned backbone as Keras's guide writes it: the application frozen and
    called with training=False, a pooled head; weights random (nothing to download).
    MobileNet by default: the smallest graph of the families fed -1..1, the quickest to
    build, save and read back three times."""
    base = getattr(keras.applications, family)(
        include_top=False, weights=None, input_shape=(32, 32, 3), **base_kw
    )
    # batchnorm statistics of some data (a random MobileNet's output vanishes without them)
    bns = [x for x in base.layers if isinstance(x, keras.layers.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0
    rng = np.random.default_rng(0)
    base(rng.uniform(-1, 1, (16, 32, 32, 3)).astype("float32"), training=True)
    for bn in bns:
        bn.momentum = 0.99
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(3, activation="softmax")
    outputs = head(keras.layers.Dropout(0.2)(x))
    return keras.Model(inputs, outputs)


def test_a_fine_tuned_backbone_predicts_and_imports_as_keras_does(cli, tmp_path):
    """cnnrun feeds the backbone as Keras's guide does (preprocess_input of 0..255 pixels),
    inside the network: its probabilities on [0, 1] arrays are Keras's on the preprocessed."""
    model = _fine_tuned()
    model.save(tmp_path / "ft.keras")
    x = np.random.default_rng(1).random((6, 32, 32, 3)).astype("float32")
    np.savez(tmp_path / "x.npz", x=x)
    pre = keras.applications.mobilenet.preprocess_input(x * 255.0)
    expected = np.asarray(model(pre, training=False))
    assert np.ptp(expected[:, 0]) > 1e-3  # the inputs give different answers
    probs, doc = predict_probs(cli, tmp_path / "ft.keras", tmp_path / "x.npz")
    assert np.max(np.abs(probs - expected)) <= 1e-5  # the preprocessing as a 1x1 convolution
    named = "'mobilenet_1.00_32'): MobileNet,"  # Keras's name for it, and the constructor
    assert any(named in a and "preprocess_input" in a for a in doc["assumed"])
    r = cli("import", tmp_path / "ft.keras", "-o", tmp_path / "imported", "--json")
    assert r.code == 0, r.stderr
    layers = yaml.safe_load((tmp_path / "imported" / "ft.yaml").read_text())["model"]["layers"]
    assert layers[0]["application"]["name"] == "MobileNet"
    again, _ = predict_probs(cli, tmp_path / "imported" / "ft.weights.h5", tmp_path / "x.npz")
    assert np.max(np.abs(again - expected)) <= 1e-5


def test_a_nested_model_is_read_only_as_a_stock_backbone(cli, tmp_path):
    renamed = _fine_tuned(name="my_backbone")
    renamed.save(tmp_path / "renamed.keras")
    r = cli("import", tmp_path / "renamed.keras", "-o", tmp_path / "out")
    assert r.code == 2 and "Traceback" not in r.stderr
    assert "'my_backbone'" in r.stderr and "not a keras.applications backbone" in r.stderr
    assert not (tmp_path / "out").exists()


def _with_member(src: Path, dst: Path, name: str, text: str) -> Path:
    """A copy of the zip `src` with its member `name` replaced by (or given) `text`."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename != name:
                zout.writestr(item, zin.read(item.filename))
        zout.writestr(name, text)
    return dst


def test_cnnruns_own_metadata_never_skips_the_layer_check_and_is_named_when_wrong(
    cli, digits_run, tmp_path
):
    import json
    import zipfile

    assert cli("export", digits_run.path, "--format", "keras", "-o", tmp_path / "out").code == 0
    exported = tmp_path / "out" / "model.keras"
    meta = json.loads(zipfile.ZipFile(exported).read("cnnrun.json"))
    lam = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Lambda(lambda x: x * 2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    lam.save(tmp_path / "lambda.keras")
    cases = {
        "lambda": (
            _with_member(
                tmp_path / "lambda.keras", tmp_path / "a.keras", "cnnrun.json", json.dumps(meta)
            ),
            "Lambda layer",
        ),
        "invalid": (
            _with_member(
                exported,
                tmp_path / "b.keras",
                "cnnrun.json",
                json.dumps({**meta, "config": {"model": 5}}),
            ),
            "holds no valid cnnrun config (",
        ),
    }
    other = json.loads(json.dumps(meta))
    other["config"]["model"]["layers"].insert(-1, {"dense": {"units": 7}})
    cases["another network"] = (
        _with_member(exported, tmp_path / "c.keras", "cnnrun.json", json.dumps(other)),
        "describes another network",
    )
    for name, (path, expected) in cases.items():
        r = cli("import", path, "-o", tmp_path / f"imported-{name}")
        assert r.code == 2 and expected in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) <= 3 and "Traceback" not in r.stderr, name
        assert not (tmp_path / f"imported-{name}").exists(), name
