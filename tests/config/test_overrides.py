"""`cnnrun.config.overrides`, `--set KEY=VALUE`: dotted keys with list indices, values read as
YAML, a layer's shorthand expanded so one of its arguments can be set, every malformed
override named with its own text, and `set_line` (what sweeps and searches write) read back
as the value it was given."""

from __future__ import annotations

import pytest

from cnnrun.config.overrides import apply_overrides, parse_key, set_line
from cnnrun.errors import UserError
from tests.support import CONFIGS, DIGITS, refused

RAW = {
    "model": {
        "layers": [
            {"conv2d": {"filters": 4}},
            {"dropout": 0.25},
            "flatten",
            {"activation": "relu"},
        ]
    },
    "train": {"epochs": 3},
}


def problems_of(sets: list[str], raw: dict = RAW) -> list[tuple[str, str]]:
    with pytest.raises(UserError) as e:
        apply_overrides(raw, sets)
    return [(p.message, p.file) for p in e.value.problems]


def test_override_parsing():
    assert parse_key("model.layers[3].dropout.rate") == ("model", "layers", 3, "dropout", "rate")
    raw = {"model": {"layers": [{"dropout": 0.25}]}}
    new, done = apply_overrides(
        raw, ["model.layers[0].dropout.rate=0.5", "train.epochs=5", "data.classes=[0, 1, 2]"]
    )
    assert new["model"]["layers"][0] == {"dropout": {"rate": 0.5}}
    assert new["train"] == {"epochs": 5} and new["data"]["classes"] == [0, 1, 2]
    assert raw["model"]["layers"][0] == {"dropout": 0.25}  # the input is not changed
    assert ("train", "epochs") in done


def test_parse_key_reads_indices_and_refuses_what_is_not_a_key():
    assert parse_key("train.epochs") == ("train", "epochs")
    assert parse_key("a[1][2].b_2") == ("a", 1, 2, "b_2")
    assert parse_key("model.layers[10]") == ("model", "layers", 10)
    for key, part in (
        ("train..epochs", "''"),
        ("model.layers[-1].x", "'layers[-1]'"),
        ("model.layers[x]", "'layers[x]'"),
        ("1st.key", "'1st'"),
    ):
        with pytest.raises(ValueError, match="is not a key name or name\\[index\\]") as e:
            parse_key(key)
        assert str(e.value).startswith(part), (key, str(e.value))


def test_a_layer_shorthand_is_expanded_to_set_one_of_its_arguments():
    new, done = apply_overrides(RAW, ["model.layers[1].dropout.rate=0.5"])
    assert new["model"]["layers"][1] == {"dropout": {"rate": 0.5}}
    assert done == {("model", "layers", 1, "dropout", "rate")}
    # another argument: the shorthand's value is kept under its own name
    new, _ = apply_overrides(RAW, ["model.layers[1].dropout.seed=3"])
    assert new["model"]["layers"][1] == {"dropout": {"rate": 0.25, "seed": 3}}
    new, _ = apply_overrides(RAW, ["model.layers[3].activation.activation=tanh"])
    assert new["model"]["layers"][3] == {"activation": {"activation": "tanh"}}
    # a whole item replaced, and the rest of the list untouched
    new, _ = apply_overrides(RAW, ["model.layers[0]={dense: {units: 3}}"])
    assert new["model"]["layers"][0] == {"dense": {"units": 3}}
    assert new["model"]["layers"][1:] == RAW["model"]["layers"][1:]
    assert RAW["model"]["layers"][1] == {"dropout": 0.25}  # the input is not changed


def test_values_are_yaml_and_missing_sections_are_made():
    new, done = apply_overrides(
        RAW,
        [
            "train.optimizer.learning_rate=0.01",
            "train.optimizer.name=sgd",
            "data.classes=[3, 7]",
            "train.epochs=",
            "seed=0x10",
        ],
    )
    assert new["train"] == {"epochs": None, "optimizer": {"learning_rate": 0.01, "name": "sgd"}}
    assert new["data"] == {"classes": [3, 7]} and new["seed"] == 16
    assert done == {
        ("train", "optimizer", "learning_rate"),
        ("train", "optimizer", "name"),
        ("data", "classes"),
        ("train", "epochs"),
        ("seed",),
    }


def test_an_index_out_of_range_says_how_long_the_list_is():
    assert problems_of(["model.layers[9].dense.units=3"]) == [
        (
            "model.layers[9]: index 9 is out of range (the list has 4 items)",
            "--set model.layers[9].dense.units=3",
        )
    ]
    ((message, _),) = problems_of(["model.layers[4]=flatten"])
    assert message == "model.layers[4]: index 4 is out of range (the list has 4 items)"
    ((message, _),) = problems_of(["data.classes[0]=1"])  # no list there at all
    assert message.startswith("data.classes[0]: index 0 is out of range")


def test_a_key_below_a_value_that_is_not_a_mapping_is_refused():
    assert problems_of(["train.epochs.x=1"]) == [
        ("train.epochs is not a mapping", "--set train.epochs.x=1")
    ]
    assert problems_of(["train.epochs.x.y=1"]) == [
        ("train.epochs is not a mapping", "--set train.epochs.x.y=1")
    ]
    ((message, _),) = problems_of(["model.layers[2].flatten.x=1"])  # `flatten`: a string
    assert message == "model.layers[2] is not a mapping"


def test_every_malformed_override_is_named_with_its_own_text():
    found = problems_of(["=5", "train.epochs", "train.epochs=7", "train.epochs=[1", "a..b=1"])
    assert [file for _, file in found] == [
        "--set =5",
        "--set train.epochs",
        "--set train.epochs=[1",
        "--set a..b=1",
    ]
    assert found[0][0] == found[1][0] == "expected KEY=VALUE, e.g. --set train.epochs=5"
    assert found[2][0].startswith("cannot parse the value '[1' as YAML")
    assert found[3][0] == "'' is not a key name or name[index]"


@pytest.mark.parametrize(
    "value",
    [
        0.3,
        3,
        True,
        None,
        "adam",
        "1e3",
        "yes",
        "null",
        "a=b",
        "",
        [{"flatten": {}}, {"dense": {"units": 10, "activation": "softmax"}}],
        {"name": "sgd", "learning_rate": 0.01},
    ],
)
def test_set_line_is_read_back_as_its_value(value):
    line = set_line("model.layers[1].dropout.rate", value)
    assert line.startswith("model.layers[1].dropout.rate=")
    new, _ = apply_overrides(RAW, [line])
    got = new["model"]["layers"][1]["dropout"]["rate"]
    assert got == value and type(got) is type(value)


def test_set_overrides(cli):
    r = cli(
        "validate",
        CONFIGS / "digits.yaml",
        "--json",
        "--set",
        "model.layers[0].conv2d.filters=8",
        "--set",
        "model.layers[4].dropout.rate=0.5",
    )
    import json

    doc = json.loads(r.stdout)["results"][0]
    assert doc["layers"][0]["params"] == 3 * 3 * 8 + 8
    assert doc["layers"][4]["args"] == "rate=0.5"
    r = cli("validate", CONFIGS / "digits.yaml", "--set", "model.layers[4].dropout.rate=2")
    assert r.code == 2
    assert "error: --set: model.layers[4].dropout.rate: expected a value less than 1" in r.stderr
    r = cli("validate", CONFIGS / "digits.yaml", "--set", "model.layers[9].dense.units=3")
    assert r.code == 2 and "out of range" in r.stderr
    r = cli("validate", CONFIGS / "digits.yaml", "--set", "train.epochs")
    assert r.code == 2 and "expected KEY=VALUE" in r.stderr


def test_a_set_key_keeps_its_index_in_the_message(cli):
    refused(cli("validate", DIGITS, "--set", "model.layers[-1].x=1"), "layers[-1]")
    refused(cli("validate", DIGITS, "--set", "model.layers[99].x=1"), "layers[99]")
