"""`cnnrun.engine.evaluate`, a trained run's answers on the test set (or, without one, the
validation set): per-class scores, calibration and its worst errors, recorded in the summary
and read back by `inspect --errors`, `report` and `predict --report`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.data import PLAIN, QUADRANTS, quadrants

pytestmark = pytest.mark.slow


def test_a_digits_run_reports_its_errors_scores_and_calibration(cli, digits_run_copy, tmp_path):
    run = digits_run_copy
    summary = json.loads((run / "summary.json").read_text())
    scores = summary["test_scores"]
    assert set(scores["per_class"]["3"]) == {"precision", "recall", "f1", "support"}
    assert scores["averages"]["weighted"]["recall"] == pytest.approx(scores["accuracy"])
    calib = summary["calibration"]
    assert calib["set"] == "test set" and len(calib["bins"]) == 10
    assert sum(b["count"] for b in calib["bins"]) == summary["data"]["counts"]["test"]
    assert 0 <= calib["ece"] <= 1
    errors = summary["errors"]
    wrong = round((1 - summary["test"]["test_accuracy"]) * errors["total"])
    assert errors["wrong"] == wrong and len(errors["worst"]) == min(25, wrong)
    said = [e["probability"] for e in errors["worst"]]
    assert said == sorted(said, reverse=True)

    r = cli("inspect", run, "--errors", "--json")
    assert r.code == 0, r.stderr
    drawn = json.loads(r.stdout)
    assert drawn["wrong"] == wrong and Path(drawn["figure"]).stat().st_size > 10_000
    # each error keeps its place in the test set
    assert [e["index"] for e in drawn["errors"]] == [e["index"] for e in errors["worst"]]

    r = cli("report", run)
    assert r.code == 0, r.stderr
    page = (run / "report.html").read_text()
    for text in (
        "name='viewport'",
        "scores per class",
        "macro mean",
        "Calibration (test set)",
        f"{calib['ece']:.4f}",
        "What it gets wrong (test set)",
    ):
        assert text in page, text
    assert "http://" not in page and "https://" not in page  # self-contained
    assert page.count("data:image/png;base64,") >= 5  # curves, confusion, reliability, gallery

    report = tmp_path / "predicted"
    r = cli("predict", "--run", run, "digits:test", "--json", "--report", report)
    assert r.code == 0, r.stderr
    predicted = json.loads(r.stdout)["scores"]
    assert predicted["per_class"]["3"]["f1"] == pytest.approx(scores["per_class"]["3"]["f1"])
    assert "macro" in predicted["averages"] and 0 <= predicted["calibration"]["ece"] <= 1
    for name in ("errors.png", "reliability.png", "confusion_matrix.png", "metrics.json"):
        assert (report / name).stat().st_size > 500, name


def test_without_a_test_split_the_validation_set_is_read(cli, tmp_path: Path):
    data = tmp_path / "q.npz"
    quadrants(data, 200, seed=2)
    with np.load(data) as f:
        np.savez(data, x=f["x"], y=f["y"])  # no test split
    cfg = tmp_path / "q.yaml"
    cfg.write_text(QUADRANTS.format(path=data, layers=PLAIN).replace("epochs: 3", "epochs: 1"))
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["test"] == {} and summary["calibration"]["set"] == "validation set"
    assert summary["errors"]["total"] == summary["data"]["counts"]["validation"]


def test_one_pass_gives_kerass_evaluate_loss_and_predict_outputs():
    import keras
    import tensorflow as tf

    from cnnrun.engine.evaluate import one_pass_scores

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 6)).astype("float32"), rng.integers(0, 3, 50)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(0.1)),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(loss=loss)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # a last batch of 2
    scores, out = one_pass_scores(model, loss, ds)
    assert scores["loss"] == pytest.approx(model.evaluate(ds, verbose=0), rel=1e-5)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
