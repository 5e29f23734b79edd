"""`cnnrun.analysis.diagnose`: verdicts on synthetic learning curves, the edge cases, and the
shipped overfitting configs diagnosed after real training."""

from __future__ import annotations

import json
import math

import pytest

from cnnrun.analysis.diagnose import best_epoch, diagnose, generalization_loss, training_progress
from tests.support import CONFIGS


def test_overfitting_train_falls_while_validation_rises():
    d = diagnose(
        {
            "loss": [1.0, 0.6, 0.4, 0.3, 0.2, 0.12, 0.08],
            "val_loss": [1.0, 0.7, 0.55, 0.5, 0.56, 0.63, 0.72],
        }
    )
    assert d.verdict == "overfitting"
    assert d.best_epoch == 4 and d.wasted_epochs == 3
    assert math.isclose(d.gl, 100 * (0.72 / 0.5 - 1))
    assert "rose 44.0% above its minimum 0.5 (epoch 4)" in d.reason


def test_converged_flat_curves():
    d = diagnose(
        {"loss": [1.0, 0.5, 0.31, 0.3, 0.3, 0.3], "val_loss": [1.0, 0.6, 0.42, 0.41, 0.41, 0.411]}
    )
    assert d.verdict == "converged"


def test_fitted_and_still_falling_says_settled_or_more_epochs_by_the_last_strips_gain():
    train = [1.0, 0.5, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.015, 0.01]
    settled = diagnose(
        {"loss": train, "val_loss": [1, 0.5, 0.2, 0.1, 0.04, 0.039, 0.038, 0.037, 0.036, 0.035]}
    )
    assert settled.verdict == "converged" and "gained only 0.005 over the last 5" in settled.reason
    falling = diagnose(
        {"loss": train, "val_loss": [1, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.09, 0.08, 0.07]}
    )
    assert falling.verdict == "converged" and "more epochs may help" in falling.reason


def test_underfitting_still_falling_fast_and_near_chance():
    d = diagnose({"loss": [2.0, 1.5, 1.1, 0.8, 0.6], "val_loss": [2.0, 1.6, 1.2, 0.9, 0.7]})
    assert d.verdict == "underfitting" and "still falling" in d.reason
    d = diagnose(
        {"loss": [2.3, 2.29, 2.29, 2.29], "val_loss": [2.3, 2.3, 2.3, 2.3]}, num_classes=10
    )
    assert d.verdict == "underfitting" and "chance" in d.reason


def test_diverged_on_nan_in_the_middle_and_on_explosion():
    d = diagnose({"loss": [1.0, math.nan, 0.5], "val_loss": [1.0, 0.9, 0.8]})
    assert d.verdict == "diverged" and "epoch 2" in d.reason
    d = diagnose({"loss": [1.0, 3.0, 9.0], "val_loss": [1.0, 3.0, 9.0]})
    assert d.verdict == "diverged"


def test_too_short_and_missing_validation():
    assert diagnose({"loss": [1.0], "val_loss": [1.0]}).verdict == "too short to tell"
    d = diagnose({"loss": [1.0, 0.9, 0.8, 0.7]})
    assert d.verdict == "too short to tell" and "no validation loss" in d.reason
    assert diagnose({}).verdict == "too short to tell"


def test_constant_loss_is_converged_not_an_error():
    d = diagnose({"loss": [0.5] * 6, "val_loss": [0.5] * 6})
    assert d.verdict == "converged" and d.best_epoch == 1 and d.gl == 0


def test_helpers():
    assert best_epoch([3.0, math.nan, 1.0, 1.0]) == 3
    assert best_epoch([0.1, 0.9, 0.5], "max") == 2
    assert best_epoch([math.nan]) is None
    assert generalization_loss([1.0, 0.5, 0.6]) == 100 * (0.6 / 0.5 - 1)
    assert generalization_loss([0.3, 0.0, 0.0]) == 0.0  # a perfect validation loss
    assert generalization_loss([0.3, 0.0, 0.1]) == math.inf
    assert diagnose({"loss": [0.5, 0.1, 0.0], "val_loss": [0.4, 0.0, 0.0]}).verdict
    assert math.isclose(training_progress([1.0, 1.0, 1.0, 1.0, 1.0]), 0.0)


def test_label_smoothing_floor_is_read_as_zero():
    from cnnrun.analysis.diagnose import smoothing_floor

    floor = smoothing_floor(0.1, 10)
    assert floor == pytest.approx(0.5003, abs=1e-4)
    train = [1.0, 0.5, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.015, 0.01]
    val = [1, 0.5, 0.2, 0.1, 0.04, 0.039, 0.038, 0.037, 0.036, 0.035]
    shifted = {"loss": [x + floor for x in train], "val_loss": [x + floor for x in val]}
    plain = diagnose({"loss": train, "val_loss": val}, num_classes=10)
    smoothed = diagnose(shifted, num_classes=10, loss_floor=floor)
    assert smoothed.verdict == plain.verdict == "converged"
    assert smoothed.best_value == pytest.approx(0.035 + floor)
    assert "label smoothing" in smoothed.reason
    assert diagnose(shifted, num_classes=10).verdict == "underfitting"  # without the floor


@pytest.mark.slow
def test_overfitting_config_is_diagnosed_and_batchnorm_lag_hid_its_twins(cli, tmp_path):
    verdicts = {}
    for name, sets in (
        ("digits-overfit", []),
        ("digits-overfit-regularized", []),
        ("digits-overfit-regularized", ["--set", "train.batchnorm_stats=moving"]),
    ):
        runs = tmp_path / f"{name}{len(sets)}"
        # 20 of the configs' 30 epochs are enough to see it, and keep the suite fast
        r = cli(
            "train",
            CONFIGS / f"{name}.yaml",
            "--runs-dir",
            runs,
            "--quiet",
            "--set",
            "train.epochs=20",
            *sets,
        )
        assert r.code == 0, r.stderr
        (run,) = runs.iterdir()
        verdicts[name + ("-moving" if sets else "")] = json.loads(
            (run / "summary.json").read_text()
        )["diagnosis"]
    assert verdicts["digits-overfit"]["verdict"] == "overfitting"
    assert verdicts["digits-overfit"]["gl"] > 5
    # With statistics recomputed (the default) the regularized twin overfits too; with the
    # moving averages their lag hides it: its validation loss still falls at the end.
    assert verdicts["digits-overfit-regularized"]["verdict"] == "overfitting"
    assert verdicts["digits-overfit-regularized-moving"]["verdict"] != "overfitting"
