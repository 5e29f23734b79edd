"""`cnnrun.app.sweep.plan`: a sweep's runs expanded from a grid, variants and seeds, named to
fit a run name; bad grids and keys refused; every variant checked before any run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from cnnrun.app.sweep import plan as sweep
from cnnrun.errors import UserError


def test_expand_names_sets_and_seeds():
    runs = sweep.expand(
        7,
        {"train.batch_size": [32, 64]},
        {"plain": {}, "drop": {"model.layers[2].dropout.rate": 0.5}},
        seeds=2,
    )
    assert [r.name for r in runs][:3] == [
        "plain_batch_size-32-seed7",
        "plain_batch_size-32-seed8",
        "plain_batch_size-64-seed7",
    ]
    assert len(runs) == 8 and len({r.name for r in runs}) == 8
    drop = next(r for r in runs if r.name == "drop_batch_size-64-seed8")
    assert drop.sets == ("model.layers[2].dropout.rate=0.5", "train.batch_size=64", "seed=8")
    # A whole layer list is a value too: JSON is YAML, so it survives --set.
    layers = [{"flatten": {}}, {"dense": {"units": 10, "activation": "softmax"}}]
    (only,) = sweep.expand(1, {}, {"flat": {"model.layers": layers}}, seeds=1)
    key, _, value = only.sets[0].partition("=")
    assert key == "model.layers" and json.loads(value) == layers


def test_long_variant_names_keep_their_values_and_fit_a_run_name():
    grid = {"train.batchnorm_stats": ["moving", "precise"]}
    runs = sweep.expand(1, grid, {"dropout-before-bn": {}}, seeds=1)
    assert [r.name for r in runs] == [
        "dropout-before-bn_batchnorm_stats-moving-seed1",
        "dropout-before-bn_batchnorm_stats-precise-seed1",
    ]
    longer = sweep.expand(1, grid, {"dropout-before-batchnorm-inside-block-two": {}}, seeds=1)
    assert len({r.variant for r in longer}) == 2
    assert all(len(r.name) <= 64 and len(r.variant) <= sweep.MAX_VARIANT for r in longer)


def test_grid_and_key_errors():
    assert sweep.parse_grid(["train.batch_size=32,64", "train.optimizer.name=adam,sgd"]) == {
        "train.batch_size": [32, 64],
        "train.optimizer.name": ["adam", "sgd"],
    }
    with pytest.raises(UserError, match="expected KEY=V1,V2"):
        sweep.parse_grid(["train.batch_size"])
    with pytest.raises(UserError, match="not a key name"):
        sweep.expand(1, {"train..epochs": [1]}, {}, 1)
    with pytest.raises(UserError, match="no values"):
        sweep.expand(1, {"train.epochs": []}, {}, 1)


def test_a_broken_variant_stops_the_sweep_before_any_run(cli, tiny_config, tmp_path: Path):
    cfg = tiny_config()
    r = cli(
        "sweep",
        cfg,
        "--grid",
        "model.layers[1].maxpool2d.pool_size=2,64",
        "--runs-dir",
        tmp_path / "runs",
    )
    assert r.code == 2
    assert "variant pool_size-64" in r.stderr and "pool_size" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_sweep_section_with_layer_variants(cli, tiny_config, tmp_path: Path):
    extra = """sweep:
  seeds: 2
  variants:
    plain: {}
    drop:
      model.layers: [{conv2d: {filters: 4}}, {maxpool2d: {}}, {flatten: {}},
                     {dropout: 0.5}, {dense: {units: 10, activation: softmax}}]
"""
    cfg = tiny_config(extra=extra)
    assert cli("validate", cfg).code == 0  # train and validate ignore the section
    r = cli("sweep", cfg, "--print-commands", "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.stderr
    lines = [shlex.split(line) for line in r.stdout.splitlines() if not line.startswith("#")]
    assert [argv[argv.index("--name") + 1] for argv in lines] == [
        "plain-seed7",
        "plain-seed8",
        "drop-seed7",
        "drop-seed8",
    ]
    key, _, value = lines[2][lines[2].index("--set") + 1].partition("=")
    assert key == "model.layers" and json.loads(value)[3] == {"dropout": 0.5}
    # the printed line is a valid config for train: check it without training
    assert cli("validate", cfg, "--set", lines[2][lines[2].index("--set") + 1]).code == 0
