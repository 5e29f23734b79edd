"""`cnnrun.engine.precise_bn`: batchnorm statistics recomputed at test-time conditions before
each validation: the weights file holds the population's, training is unchanged, and the
validation loss is truer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support import CONFIGS, only_run, run_cli

pytestmark = pytest.mark.slow

BN = """\
name: bn
seed: 3
data: {{source: digits}}
model:
  layers:
    - conv2d: {{filters: 6, kernel_size: 3, padding: same, activation: linear}}
    - batchnorm: {{}}
    - activation: relu
    - dropout: 0.5
    - flatten
    - batchnorm: {{}}
    - dense: {{units: 10, activation: softmax}}
train:
  {{epochs: 3, batch_size: 64, precision: float32, batchnorm_stats: {mode}, batchnorm_batches: 5}}
"""


@pytest.fixture(scope="module")
def bn_runs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """The BN network trained 3 epochs with each kind of statistics: (config, run folder)."""
    out = {}
    for mode in ("moving", "precise"):
        tmp = tmp_path_factory.mktemp(mode)
        cfg = tmp / f"{mode}.yaml"
        cfg.write_text(BN.format(mode=mode))
        r = run_cli("train", cfg, "--runs-dir", tmp / "runs", "--quiet")
        assert r.code == 0, r.stderr
        out[mode] = (cfg, only_run(tmp / "runs"))
    return out


def test_the_weights_file_holds_the_population_statistics(bn_runs):
    import keras

    from cnnrun.config.load import load_config
    from cnnrun.data.sources import load_dataset
    from cnnrun.data.splits import split_dataset
    from cnnrun.engine.precise_bn import sample_images
    from cnnrun.engine.predict import load_model

    cfg, run = bn_runs["precise"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["batchnorm"] == {"stats": "precise", "layers": 2, "sample_images": 320}

    # The same sample, drawn independently of the run, and NumPy's own mean and variance.
    config = load_config(cfg).config
    ds, data_cfg = load_dataset(config.data, cfg.parent)
    splits = split_dataset(ds, data_cfg, config.seed)
    images = sample_images(splits.x_train, splits.scale, 5, 64, config.seed)
    model, _ = load_model(run / "best.weights.h5")
    first, second = [m for m in model.layers if isinstance(m, keras.layers.BatchNormalization)]
    # The first batchnorm's input is its test-time input: the convolution of the images.
    feed = keras.Model(model.inputs, first.input).predict(images, verbose=0).astype(np.float64)
    assert_population(first, feed.reshape(-1, feed.shape[-1]))
    # The second's, in the one pass: the first normalising with each batch's own statistics
    # (batches of 64, in order), then relu, dropout off, flatten.
    gamma, beta = np.asarray(first.gamma, np.float64), np.asarray(first.beta, np.float64)
    parts = []
    for start in range(0, len(feed), 64):
        b = feed[start : start + 64]
        mean, var = b.mean((0, 1, 2)), b.var((0, 1, 2))
        parts.append(np.maximum((b - mean) / np.sqrt(var + first.epsilon) * gamma + beta, 0))
    assert_population(second, np.concatenate(parts).reshape(len(feed), -1))


def assert_population(layer, a: np.ndarray) -> None:
    """A batchnorm's stored statistics are the mean and (biased) variance of `a` (1e-4)."""
    np.testing.assert_allclose(np.asarray(layer.moving_mean), a.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), a.var(0), rtol=1e-4, atol=1e-6)


def test_precise_statistics_leave_training_unchanged_and_validation_truer(bn_runs):
    losses = {}
    for mode, (_, run) in bn_runs.items():
        rows = (run / "history.csv").read_text().splitlines()[1:]
        losses[mode] = [[float(v) for v in row.split(",")[1:3]] for row in rows]
    train = {m: [r[0] for r in rows] for m, rows in losses.items()}
    val = {m: [r[1] for r in rows] for m, rows in losses.items()}
    assert len(train["moving"]) == len(train["precise"]) == 3
    np.testing.assert_allclose(train["moving"], train["precise"], rtol=1e-5)
    assert all(p < m for p, m in zip(val["precise"], val["moving"], strict=True)), val


def test_the_quick_start_with_precise_statistics_validates_far_lower(cli, tmp_path: Path):
    r = cli(
        "train",
        CONFIGS / "digits.yaml",
        "--runs-dir",
        tmp_path,
        "--quiet",
        "--json",
        "--set",
        "train.batchnorm_stats=precise",
        "--set",
        "train.epochs=5",
    )
    assert r.code == 0, r.stderr
    (run,) = tmp_path.iterdir()
    val_loss = [
        float(row.split(",")[2]) for row in (run / "history.csv").read_text().splitlines()[1:]
    ]
    assert val_loss[4] < 0.15  # 0.59 to 1.13 with the moving averages at epoch 5


def test_a_backbones_learning_batchnorms_get_precise_statistics_too():
    """A backbone trained from scratch (`weights: none`: its batchnorms learn by default) has
    its batchnorms' statistics recomputed with the network's own: with the sample one batch,
    inference then gives what a training-mode pass on that batch gives. Its moving averages
    alone (momentum 0.999 in MobileNetV3) would leave inference far from it."""
    import keras

    from cnnrun.config.schema import Config
    from cnnrun.engine.model import build_model
    from cnnrun.engine.precise_bn import PreciseBatchNorm, precise_layers

    layers = [
        {"application": {"name": "MobileNetV3Small", "weights": "none", "trainable": True}},
        "globalavgpool2d",
        "batchnorm",
        {"dense": {"units": 3, "activation": "softmax"}},
    ]
    cfg = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
    cfg = cfg.model_copy(
        update={"model": cfg.model.model_copy(update={"input_shape": (32, 32, 3)})}
    )
    assert cfg.model.layers[0].args.batchnorm == "train"
    model = build_model(cfg, compile=False)
    inner = model.get_layer("application_0")
    n_inner = sum(isinstance(x, keras.layers.BatchNormalization) for x in inner.layers)
    assert len(precise_layers(model)) == 1 + n_inner > 30

    x = np.random.default_rng(0).random((32, 32, 32, 3)).astype("float32")
    trained = np.asarray(model(x, training=True))
    before = float(np.abs(np.asarray(model(x, training=False)) - trained).max())
    callback = PreciseBatchNorm(x, 32, cfg.model.layers)
    callback.set_model(model)
    assert callback.recompute() == 1 + n_inner
    after = float(np.abs(np.asarray(model(x, training=False)) - trained).max())
    assert after < 1e-3 < before, (before, after)
