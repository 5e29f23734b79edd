"""`cnnrun.app.search.plan`: a search's space checked against the schema before any folder
is made, the grid sampler's values, the trial's `--set` lines, and `search.json`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from cnnrun.app.search.plan import (
    SearchPlan,
    grid_values,
    indexed,
    new_plan,
    points,
    read_plan,
    write_plan,
)
from cnnrun.config.search_space import SearchParam
from cnnrun.errors import UserError
from tests.support import CONFIGS
from tests.support.search import search_config

SEARCH_DIGITS = CONFIGS / "search-digits.yaml"


def param(**fields) -> SearchParam:
    return SearchParam.model_validate(fields)


def test_a_bad_range_or_key_is_refused_before_any_folder(cli, tmp_path: Path):
    bad = """\
  space:
    model.layers[2].dropout.rate: {low: 0.0, high: 1.5}
    model.layers[0].conv2d.filterz: {choices: [4, 8]}
    train.optimizer.learning_rate: {low: 0.01, high: 0.001}
"""
    runs = tmp_path / "runs"
    r = cli("search", search_config(tmp_path, bad), "--runs-dir", runs)
    assert r.code == 2
    assert "search.space.train.optimizer.learning_rate: low 0.01 is above high 0.001" in r.stderr
    assert not runs.exists()
    fixed = bad.replace("{low: 0.01, high: 0.001}", "{low: 0.001, high: 0.01}")
    r = cli("search", search_config(tmp_path, fixed), "--runs-dir", runs)
    assert r.code == 2
    assert "search.yaml:" in r.stderr  # the file and line of the key
    assert "search.space.model.layers[2].dropout.rate: 1.5: expected a value less than 1" in (
        r.stderr
    )
    assert "unknown key 'filterz' (did you mean 'filters'?)" in r.stderr
    assert not runs.exists()
    r = cli("search", search_config(tmp_path, "  space: {}"), "--runs-dir", runs)
    assert r.code == 2 and "space" in r.stderr and "Traceback" not in r.stderr


def test_grid_values_of_integer_ranges_with_and_without_a_step():
    assert grid_values("k", param(low=1, high=4)) == [1, 2, 3, 4]
    assert grid_values("k", param(low=2, high=8, step=2)) == [2, 4, 6, 8]
    assert grid_values("k", param(low=2, high=9, step=3)) == [2, 5, 8]  # high not on the grid
    assert all(type(v) is int for v in grid_values("k", param(low=2, high=8, step=2)))


def test_grid_values_of_stepped_float_ranges_are_rounded_onto_the_grid():
    assert grid_values("k", param(low=0.0, high=0.5, step=0.1)) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert grid_values("k", param(low=0.1, high=0.35, step=0.1)) == [0.1, 0.2, 0.3]
    # an integer range with a float step is a float range
    assert grid_values("k", param(low=1, high=2, step=0.5)) == [1.0, 1.5, 2.0]


def test_grid_values_of_choices_and_of_choices_suggested_by_their_index():
    assert grid_values("k", param(choices=[32, 64])) == [32, 64]
    assert grid_values("k", param(choices=[None, True, 0.5, "adam"])) == [None, True, 0.5, "adam"]
    layers = [["flatten"], [{"conv2d": {"filters": 8}}, "flatten"], {"name": "sgd"}]
    assert grid_values("k", param(choices=layers)) == [0, 1, 2]  # lists and mappings: indices
    assert indexed(param(choices=layers)) and indexed(param(choices=[1, [2]]))
    assert not indexed(param(choices=[None, True, 0.5, "adam"]))
    assert not indexed(param(low=0.0, high=1.0))


def test_the_grid_sampler_refuses_a_continuous_range_without_a_step():
    with pytest.raises(UserError) as e:
        grid_values("train.optimizer.learning_rate", param(low=0.001, high=0.01))
    (problem,) = e.value.problems
    assert problem.loc == ("search", "space", "train.optimizer.learning_rate")
    assert problem.message == "the grid sampler needs choices, an integer range or a step"
    assert "add step: to train.optimizer.learning_rate, or use sampler: tpe" in problem.hint
    with pytest.raises(UserError, match="grid sampler needs"):
        grid_values("k", param(low=1, high=3.0))  # one float end: not an integer range


def test_the_refusal_names_the_key_in_the_file_before_any_folder(cli, tmp_path: Path):
    space = """\
  space:
    train.optimizer.learning_rate: {low: 0.001, high: 0.01}
  sampler: grid
"""
    cfg = search_config(tmp_path, space)
    with pytest.raises(UserError) as e:
        new_plan(cfg, [], None, "s")
    (problem,) = e.value.problems
    assert problem.path == "search.space.train.optimizer.learning_rate"
    line = (
        cfg.read_text()
        .splitlines()
        .index("    train.optimizer.learning_rate: {low: 0.001, high: 0.01}")
    )
    assert problem.file == str(cfg) and problem.line == line + 1
    r = cli("search", cfg, "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and "the grid sampler needs choices" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_points_are_the_choices_or_the_ends_of_the_range():
    assert points("k", param(choices=[1, [2], "x"])) == [1, [2], "x"]
    assert points("k", param(low=0.0, high=0.5)) == [0.0, 0.5]
    assert points("k", param(low=0.001, high=0.1, log=True)) == [0.001, 0.1]
    assert points("k", param(low=3, high=3)) == [3]  # one point, checked once


def test_new_plan_of_the_shipped_search():
    plan = new_plan(SEARCH_DIGITS, [], None, "study")
    assert plan.metric == "val_loss" and plan.direction == "minimize"
    assert plan.trials == 16 and plan.sampler == "tpe" and plan.study_name == "study"
    assert plan.epochs == 10 and plan.seed == 42
    assert plan.pruner == {"name": "median", "startup_trials": 3, "warmup_epochs": 1}
    assert plan.config == str(SEARCH_DIGITS.resolve()) and len(plan.config_sha256) == 64
    assert plan.space == {
        "train.optimizer.learning_rate": {"low": 0.0001, "high": 0.01, "log": True},
        "model.layers[4].dropout.rate": {"low": 0.0, "high": 0.5},
        "train.batch_size": {"choices": [32, 64]},
    }
    assert new_plan(SEARCH_DIGITS, [], 3, "study").trials == 3  # --trials wins


def test_new_plan_takes_its_direction_from_the_metric(tmp_path: Path):
    space = "  space:\n    train.batch_size: {choices: [32, 64]}\n"
    cfg = search_config(tmp_path, space + "  metric: val_accuracy\n")
    assert new_plan(cfg, [], None, "s").direction == "maximize"
    cfg = search_config(tmp_path, space + "  metric: val_loss\n")
    assert new_plan(cfg, [], None, "s").direction == "minimize"
    cfg = search_config(tmp_path, space)  # no metric: the checkpoint's monitor, val_loss
    assert new_plan(cfg, [], None, "s").metric == "val_loss"
    plan = new_plan(cfg, ["checkpoint.monitor=val_accuracy"], None, "s")
    assert (plan.metric, plan.direction) == ("val_accuracy", "maximize")
    cfg = search_config(tmp_path, space + "  metric: val_loss\n  direction: maximize\n")
    assert new_plan(cfg, [], None, "s").direction == "maximize"  # said, not guessed
    with pytest.raises(UserError):
        new_plan(search_config(tmp_path, space + "  metric: val_f1\n"), [], None, "s")


def test_a_grid_without_a_trial_count_runs_the_whole_grid(tmp_path: Path):
    text = SEARCH_DIGITS.read_text().split("\nsearch:\n")[0] + (
        "\nsearch:\n"
        "  space:\n"
        "    model.layers[4].dropout.rate: {low: 0.0, high: 0.5, step: 0.25}\n"
        "    train.batch_size: {choices: [32, 64]}\n"
        "  sampler: grid\n"
    )
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(text)
    assert new_plan(cfg, [], None, "s").trials == 3 * 2
    assert new_plan(cfg, [], 4, "s").trials == 4
    cfg.write_text(text + "  trials: 5\n")
    assert new_plan(cfg, [], None, "s").trials == 5  # a count the config gives is kept


def test_a_config_without_a_search_section_is_refused(tmp_path: Path):
    with pytest.raises(UserError, match="has no search: section") as e:
        new_plan(CONFIGS / "digits.yaml", [], None, "s")
    assert e.value.problems[0].file == str(CONFIGS / "digits.yaml")


def test_trial_sets_are_the_users_then_the_metric_then_the_values():
    plan = new_plan(SEARCH_DIGITS, ["train.epochs=2"], None, "s")
    values = {"model.layers[4].dropout.rate": 0.3, "train.batch_size": 64}
    assert plan.trial_sets(values) == [
        "train.epochs=2",
        "checkpoint.monitor=val_loss",
        "checkpoint.mode=min",
        "model.layers[4].dropout.rate=0.3",
        "train.batch_size=64",
    ]
    plan.direction, plan.metric = "maximize", "val_accuracy"
    layers = [{"dense": {"units": 10}}]
    assert plan.trial_sets({"model.layers": layers})[1:] == [
        "checkpoint.monitor=val_accuracy",
        "checkpoint.mode=max",
        'model.layers=[{"dense":{"units":10}}]',
    ]


def test_search_json_round_trips_and_a_missing_or_garbage_one_is_named(tmp_path: Path):
    plan = new_plan(SEARCH_DIGITS, [], None, "s")
    write_plan(tmp_path, plan)
    again = read_plan(tmp_path)
    assert isinstance(again, SearchPlan) and asdict(again) == asdict(plan)
    assert again.param("train.batch_size").choices == [32, 64]

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError) as e:
        read_plan(empty)
    (problem,) = e.value.problems
    assert problem.file == str(empty) and "has no search.json" in problem.message

    (empty / "search.json").write_text("{not json")
    with pytest.raises(UserError) as e:
        read_plan(empty)
    (problem,) = e.value.problems
    assert problem.file == str(empty / "search.json")
    assert problem.message.startswith("unreadable search.json")

    (empty / "search.json").write_text(json.dumps({"kind": "cnnrun-sweep"}))
    with pytest.raises(UserError, match="not a cnnrun search file"):
        read_plan(empty)
    (empty / "search.json").write_text(json.dumps({"kind": "cnnrun-search", "trials": 3}))
    with pytest.raises(UserError) as e:  # fields missing
        read_plan(empty)
    assert e.value.problems[0].file == str(empty / "search.json")


def test_an_unknown_search_metric_is_blamed_on_search_metric_in_the_file(cli, tmp_path: Path):
    """Not on the `--set checkpoint.monitor=...` that passes it to each trial, which the user
    never typed."""
    text = (CONFIGS / "search-digits.yaml").read_text()
    assert "  metric: val_loss" in text
    cfg = tmp_path / "s.yaml"
    cfg.write_text(text.replace("  metric: val_loss", "  metric: val_auc"))
    line = 1 + next(i for i, t in enumerate(cfg.read_text().splitlines()) if "val_auc" in t)
    r = cli("search", cfg, "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"s.yaml:{line}: search.metric: cannot monitor 'val_auc'" in r.stderr
    assert "--set" not in r.stderr and not (tmp_path / "runs").exists()
