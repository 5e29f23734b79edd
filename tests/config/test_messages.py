"""`cnnrun.config.messages`, pydantic's errors as cnnrun's problems: a value that fails every
branch of a union is one problem, named by the branch that says why (a bound over a type);
a value that is no finite number says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cnnrun.config.load import load_config
from cnnrun.config.messages import from_pydantic_errors
from cnnrun.config.search_space import SearchParam
from cnnrun.errors import UserError
from tests.support import DIGITS, refused

KEY = "train.optimizer.learning_rate"


def _search_config(tmp_path: Path, step: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {source: digits}\n"
        "model: {layers: [flatten, {dense: {units: 10, activation: softmax}}]}\n"
        "search:\n"
        "  space:\n"
        f"    {KEY}: {{low: 0.001, high: 0.01, step: {step}}}\n"
    )
    return path


@pytest.mark.parametrize(
    "step, words",
    [
        ("0", "expected a value greater than 0, got 0"),
        ("0.0", "expected a value greater than 0, got 0.0"),
        ("-2.5", "expected a value greater than 0, got -2.5"),
        ("-1", "expected a value greater than 0, got -1"),
        ("abc", "expected a number, got 'abc'"),
    ],
)
def test_a_step_that_fails_both_branches_is_one_problem_at_the_step(tmp_path, step, words):
    path = _search_config(tmp_path, step)
    with pytest.raises(UserError) as e:
        load_config(path)
    (problem,) = e.value.problems  # one, not one per branch of `int > 0 | float > 0`
    assert problem.path == f"search.space.{KEY}.step"
    assert problem.message == words
    assert problem.file == str(path) and problem.line == 5


def test_the_branch_that_says_why_is_the_one_kept():
    with pytest.raises(ValidationError) as e:
        SearchParam.model_validate({"low": 1, "high": 2, "step": -2.5})
    raw = e.value.errors()
    # pydantic: the int branch refuses the type, the float branch the value
    assert sorted(err["type"] for err in raw) == ["greater_than", "int_type"]
    (problem,) = from_pydantic_errors(raw)
    assert problem.loc == ("step",)  # the branches' names are not keys of the YAML
    assert problem.message == "expected a value greater than 0, got -2.5"

    with pytest.raises(ValidationError) as e:
        SearchParam.model_validate({"low": 1, "high": 2, "step": 0})
    assert len(e.value.errors()) == 2  # both branches refuse the value
    (problem,) = from_pydantic_errors(e.value.errors())
    assert problem.message == "expected a value greater than 0, got 0"

    with pytest.raises(ValidationError) as e:
        SearchParam.model_validate({"low": 1, "high": 2, "step": "abc"})
    assert len(e.value.errors()) == 2  # both refuse the type: the widest, a number
    (problem,) = from_pydantic_errors(e.value.errors())
    assert problem.message == "expected a number, got 'abc'"


def test_a_positive_step_of_either_kind_is_valid(tmp_path):
    for step, value in (("2", 2), ("0.5", 0.5)):
        loaded = load_config(_search_config(tmp_path, step))
        assert loaded.config.search.space[KEY].step == value


@pytest.mark.parametrize(
    "override",
    [
        "train.optimizer.learning_rate=.inf",
        "model.layers[4].dropout.rate=.nan",
        "model.layers[1].batchnorm.epsilon=.inf",
        "data.validation_split=-.inf",
    ],
)
def test_infinite_and_nan_values_are_refused(override, cli):
    refused(cli("validate", DIGITS, "--set", override), "expected a")


@pytest.mark.parametrize(
    ("weights", "said", "unsaid"),
    [
        # a mapping: the word branch never applied; the mapping's own value says why
        ("{0: 0}", "train.class_weight[0]: expected a value greater than 0", "'balanced'"),
        # a word: the mapping branch never applied
        ("balancd", "did you mean 'balanced'?", "[0]"),
    ],
)
def test_a_union_of_a_word_and_a_mapping_names_the_branch_that_applied(
    tmp_path, weights, said, unsaid
):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {source: digits}\n"
        "model: {layers: [flatten, {dense: {units: 10, activation: softmax}}]}\n"
        f"train: {{class_weight: {weights}}}\n"
    )
    with pytest.raises(UserError) as e:
        load_config(path)
    text = str(e.value)
    assert said in text and unsaid not in text and len(e.value.problems) == 1, text
