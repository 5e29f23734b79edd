"""`cnnrun.config.lint`, placement warnings: variance shift (Dropout right before a batchnorm,
inside blocks too), a bias before a batchnorm, layers after the output, moving averages that
cannot settle early in the run; `--strict` makes them errors."""

from __future__ import annotations

import json
from pathlib import Path

from cnnrun.config.lint import lint_layers
from cnnrun.config.schema import Config
from tests.support import CONFIGS


def test_variance_shift_is_a_warning_and_strict_makes_it_an_error(cli):
    path = CONFIGS / "digits-variance-shift.yaml"
    r = cli("validate", path)
    assert r.code == 0
    assert "warning:" in r.stderr and "variance shift" in r.stderr
    assert f"{path}:10: model.layers[2].batchnorm" in r.stderr
    r = cli("validate", path, "--strict")
    assert r.code == 2 and "error:" in r.stderr and "variance shift" in r.stderr


def test_placement_lint_rules(cli, tmp_path: Path):
    path = tmp_path / "lint.yaml"
    path.write_text(
        "data: {source: digits}\n"
        "model:\n"
        "  layers:\n"
        "    - conv2d: {filters: 8, activation: linear}\n"  # bias before batchnorm
        "    - batchnorm: {}\n"
        "    - flatten: {}\n"
        "    - dense: {units: 10, activation: softmax}\n"
        "    - batchnorm: {}\n"  # after softmax
        "    - dropout: 0.2\n"  # after the output layer
    )
    r = cli("validate", path, "--json")
    doc = json.loads(r.stdout)["results"][0]
    found = {(w["path"], w["line"]) for w in doc["warnings"]}
    assert found == {
        ("model.layers[0].conv2d.use_bias", 4),
        ("model.layers[4].batchnorm", 8),
        ("model.layers[5].dropout", 9),
    }


def test_dropout_before_a_block_whose_first_layer_is_batchnorm_is_linted():
    layers = [
        {"conv2d": {"filters": 4, "padding": "same"}},
        {"dropout": 0.5},
        {"residual": {"layers": ["batchnorm", {"conv2d": {"filters": 4, "padding": "same"}}]}},
        "flatten",
        {"dense": {"units": 10, "activation": "softmax"}},
    ]
    cfg = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
    assert [w.path for w in lint_layers(cfg.model.layers)] == [
        "model.layers[2].residual.layers[0].batchnorm"
    ]


def test_moving_averages_that_cannot_settle_are_a_warning(cli):
    r = cli("validate", CONFIGS / "digits.yaml", "--set", "train.batchnorm_stats=moving")
    assert r.code == 0
    assert "34% of the initial statistics" in r.stderr and "batchnorm_stats: precise" in r.stderr
    quiet = cli("validate", CONFIGS / "digits.yaml")  # precise, the default: nothing to say
    assert "initial statistics" not in quiet.stderr
    settled = cli(
        "validate",
        CONFIGS / "digits.yaml",
        "--set",
        "train.batchnorm_stats=moving",
        "--set",
        "model.layers[1].batchnorm.momentum=0.9",
    )
    assert "initial statistics" not in settled.stderr
