"""`cnnrun.runs.gates`, `--fail-under METRIC=VALUE`: the bars parsed (a loss refused, a
malformed one named with its text), bars on metrics the work will not have refused, and the
lines of the bars a run missed."""

from __future__ import annotations

import pytest

from cnnrun.errors import UserError
from cnnrun.runs.gates import missed, parse_gates, require_known


def test_parse_gates_reads_metric_equals_value():
    assert parse_gates([]) == {}
    assert parse_gates(["val_accuracy=0.9", " test_accuracy =0.85", "accuracy=1"]) == {
        "val_accuracy": 0.9,
        "test_accuracy": 0.85,
        "accuracy": 1.0,
    }
    assert parse_gates(["accuracy=0.5", "accuracy=0.7"]) == {"accuracy": 0.7}  # the last wins
    assert parse_gates(("f1=1e-2",)) == {"f1": 0.01}


@pytest.mark.parametrize("item", ["val_loss=0.5", "loss=1", "test_loss=0.2"])
def test_a_loss_is_refused_as_a_gate(item):
    with pytest.raises(UserError) as e:
        parse_gates(["val_accuracy=0.9", item])
    (problem,) = e.value.problems
    assert problem.file == f"--fail-under {item}"
    assert problem.message == "a loss is better when lower; gate on an accuracy"


@pytest.mark.parametrize(
    "item",
    [
        "val_accuracy",
        "val_accuracy=",
        "val_accuracy=high",
        "=0.9x",
        "=0.9",
        " =0.9",
        "accuracy=nan",
    ],
)
def test_a_malformed_gate_is_refused_with_its_text(item):
    with pytest.raises(UserError) as e:
        parse_gates([item])
    (problem,) = e.value.problems
    assert problem.file == f"--fail-under {item}"
    assert problem.message == "expected METRIC=VALUE, e.g. val_accuracy=0.9"
    assert f"--fail-under {item}: expected METRIC=VALUE" in problem.format()


def test_require_known_refuses_gates_the_work_will_not_produce():
    require_known({"val_accuracy": 0.9}, ["accuracy", "val_accuracy"], "the run")
    require_known({}, [], "the run")
    with pytest.raises(UserError) as e:
        require_known(
            {"val_acc": 0.5, "f1": 0.1, "accuracy": 0.2},
            {"val_accuracy", "accuracy", "val_loss", "test_loss"},
            "the run",
        )
    (problem,) = e.value.problems
    assert problem.file == "--fail-under"
    assert problem.message == (
        "cannot gate on val_acc, f1; the run will have accuracy, val_accuracy"
    )


def test_missed_names_each_bar_a_run_did_not_meet():
    gates = {"val_accuracy": 0.9, "test_accuracy": 0.8, "f1": 0.5}
    assert missed(gates, {"val_accuracy": 0.95, "test_accuracy": 0.8, "f1": 0.5}) == []
    assert missed(gates, {"val_accuracy": 0.85, "test_accuracy": 0.79999, "f1": 0.7}) == [
        "val_accuracy 0.8500 < 0.9",
        "test_accuracy 0.8000 < 0.8",  # below the bar, however little
    ]
    assert missed({"f1": 0.5}, {"accuracy": 1.0}) == ["f1 missing < 0.5"]
    assert missed({}, {"accuracy": 0.0}) == []
