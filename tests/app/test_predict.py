"""`cnnrun.app.predict`, the prediction use case: from a run's weights file alone it gives
the recorded test accuracy; plain Keras weights need the config, and one that does not fit
is named; every refusal comes before the first byte written."""

from __future__ import annotations

import json

import pytest

from tests.support import TINY, V01_RUN, refused
from tests.support.predict import digits_test


@pytest.mark.slow
def test_builtin_split_gives_the_recorded_test_accuracy(digits_run, cli):
    trained = digits_run.path
    summary = json.loads((trained / "summary.json").read_text())
    r = cli("predict", "--run", trained, "digits:test", "--format", "json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["predictions"]) == 359
    assert doc["scores"]["accuracy"] == pytest.approx(summary["test"]["test_accuracy"], abs=1e-6)
    assert f"accuracy {doc['scores']['accuracy']:.4f} on 359 labelled inputs" in r.stderr
    assert "warn" not in r.stderr.lower()  # loading the weights prints no warnings


def _keras_model(filters: int):
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


@pytest.mark.slow
def test_plain_keras_weights_with_config(cli, tmp_path):
    model = _keras_model(4)
    model.save_weights(tmp_path / "seed.weights.h5")  # the hand-written workflow's file
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY.format(epochs=1, extra=""))
    r = cli("predict", "--weights", tmp_path / "seed.weights.h5", "digits:test")
    assert r.code == 2 and "--config" in r.stderr
    with_config = [
        "predict",
        "--weights",
        tmp_path / "seed.weights.h5",
        "--config",
        cfg,
        "digits:test",
    ]
    r = cli(*with_config, "--format", "json")
    assert r.code == 0, r.stderr
    x, _ = digits_test()
    expected = model.predict(x / 16, verbose=0).argmax(axis=1)
    got = [int(p["predicted"]) for p in json.loads(r.stdout)["predictions"]]
    assert got == expected.tolist()
    r = cli(*with_config, "--set", "model.layers[0].conv2d.filters=8")
    assert r.code == 2 and "Traceback" not in r.stderr
    assert "model.layers[0] (conv2d) does not match the file" in r.stderr
    assert "(3, 3, 1, 8)" in r.stderr and "(3, 3, 1, 4)" in r.stderr


def test_a_report_folder_that_is_a_file_refuses_before_any_output(cli, tmp_path):
    (tmp_path / "report").write_text("mine")
    out = tmp_path / "p.csv"
    r = cli("predict", "--run", V01_RUN, "digits:test", "--report", tmp_path / "report", "-o", out)
    refused(r, "report: is a file, expected a folder for --report")
    assert not out.exists() and (tmp_path / "report").read_text() == "mine"
