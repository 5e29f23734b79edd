"""Augmentation: the policies and colour layers are told cnnrun's [0, 1] pixels (outputs stay
in range, no image flattened to a constant); MixUp and CutMix train on mixed one-hot labels,
the loss Keras's own categorical cross-entropy of them, while validation keeps hard labels;
a mixing run trains from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnrun.config.layers import LayerEntry
from tests.support import only_run, tiny_yaml

pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")


@pytest.mark.parametrize(
    "layer",
    [
        {"randaugment": {"num_ops": 3, "factor": 0.8}},
        {"augmix": {}},
        {"randomcolorjitter": {"brightness_factor": 0.3, "saturation_factor": 0.5}},
        {"randombrightness": 0.3},
        {"randomerasing": {"factor": 1.0}},
    ],
)
def test_policies_and_colour_keep_unit_pixels_and_the_images(layer):
    from cnnrun.engine.builders import BUILDERS

    entry = LayerEntry.parse(layer)
    built = BUILDERS[entry.kind](entry.args, {"name": "aug", "dtype": "float32"})
    rng = np.random.default_rng(0)
    x = rng.random((32, 24, 24, 3)).astype("float32")
    out = np.asarray(built(x, training=True))
    assert out.shape == x.shape
    assert out.min() >= -1e-5 and out.max() <= 1 + 1e-5  # in [0, 1], not 0-255
    assert (out.reshape(32, -1).std(axis=1) > 0.01).all()  # no image flattened to a constant
    assert np.abs(out - x).max() > 0.01  # and it did something
    assert np.array_equal(np.asarray(built(x, training=False)), x)  # training only


def _prepared(tmp_path: Path, augment: str):
    from cnnrun.config.load import load_config
    from cnnrun.engine.prepare import prepare
    from cnnrun.plan import make_plan

    cfg = tiny_yaml(tmp_path / "t.yaml", epochs=1, extra=f"  augment: {augment}\n")
    return prepare(make_plan(load_config(cfg)))


@pytest.mark.parametrize("augment", ["{mixup: {alpha: 0.4}}", "{cutmix: {factor: 1.0}}"])
def test_mixing_trains_on_soft_labels_and_validates_on_hard_ones(tmp_path, augment):
    from cnnrun.engine.pipeline import one_pass
    from cnnrun.engine.training import _train_data

    prep = _prepared(tmp_path, augment)
    train_ds, _ = _train_data(prep, 0, 1)
    x, y = next(iter(train_ds))
    y = np.asarray(y)
    assert y.shape == (64, 10) and np.allclose(y.sum(axis=1), 1, atol=1e-5)
    assert ((y > 1e-3) & (y < 1 - 1e-3)).any()  # some labels are mixed
    model = prep.model
    expected = keras.losses.categorical_crossentropy(y, model(x, training=False))
    got = model.compute_loss(x=x, y=y, y_pred=model(x, training=False))
    np.testing.assert_allclose(float(got), float(np.mean(expected)), rtol=1e-5)

    splits = prep.splits
    _, yv = next(iter(one_pass(prep.plan.config, splits, splits.x_val, splits.y_val)))
    yv = np.asarray(yv)
    assert set(np.unique(yv)) == {0.0, 1.0} and np.array_equal(yv.argmax(1), splits.y_val[:64])


def test_a_mixing_run_trains_and_records_hard_label_scores(cli, tmp_path):
    cfg = tiny_yaml(
        tmp_path / "t.yaml",
        epochs=8,
        extra="  augment: {mixup: {alpha: 0.2}, cutmix: {factor: 1.0}}\n",
    )
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.stderr
    summary = json.loads((only_run(tmp_path / "runs") / "summary.json").read_text())
    assert summary["status"] == "completed" and 0 <= summary["test"]["test_accuracy"] <= 1
    assert summary["best_metrics"]["val_accuracy"] > 0.2  # 10 classes: better than chance
