"""`cnnrun.config.schema` as JSON Schema (`cnnrun schema`): every shipped config validates
against it, and its bounds, choices and keys reject what `validate` rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support import BROKEN, CONFIGS

jsonschema = pytest.importorskip("jsonschema")
EXAMPLES = sorted(CONFIGS.glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    """A JSON Schema validator of `cnnrun schema`'s output, itself checked as a schema."""
    from tests.support import run_cli

    r = run_cli("schema")
    assert r.code == 0
    schema = json.loads(r.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_json_schema_of_the_config(cli):
    r = cli("schema")
    assert r.code == 0
    schema = json.loads(r.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["required"]) == {"data", "model"}
    forms = schema["$defs"]["Layer"]["anyOf"]
    kinds = {k for f in forms for k in f.get("properties", {})}
    assert {"conv2d", "dropout", "flatten"} <= kinds
    assert all(f.get("additionalProperties") is False for f in forms if "properties" in f)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_shipped_config_validates_against_the_json_schema(path: Path, validator):
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert not errors, [e.message for e in errors]


# Broken configs whose fault is one a schema can express: the schema's bounds, choices and
# keys reject what `validate` rejects for the same field.
SCHEMA_FAULTS = [
    "01_typo_layer_kind",
    "02_typo_train_key",
    "03_typo_layer_arg",
    "04_typo_source",
    "05_typo_top_section",
    "06_unknown_optimizer",
    "07_unknown_activation",
    "08_zero_filters",
    "09_negative_kernel",
    "10_string_filters",
    "11_float_units",
    "12_dropout_rate_one",
    "13_dropout_rate_negative",
    "14_dropout_rate_string",
    "22_layer_two_kinds",
    "23_layer_is_number",
    "25_layers_mapping_not_list",
    "26_missing_filters",
    "27_missing_data",
    "28_empty_layers",
    "33_negative_epochs",
    "34_bool_epochs",
    "35_validation_split_one",
    "43_bad_name",
]


@pytest.mark.parametrize("name", SCHEMA_FAULTS)
def test_the_json_schema_rejects_what_validate_rejects(name: str, cli, validator):
    path = BROKEN / f"{name}.yaml"
    assert cli("validate", path).code == 2
    assert list(validator.iter_errors(yaml.safe_load(path.read_text())))


@pytest.mark.parametrize(
    "override",
    [
        "model.layers[4].dropout.rate=-0.1",
        "train.optimizer.learning_rate=-0.001",
        "model.layers[0].conv2d.strides=0",
        "train.batch_size=0",
        "model.layers[1].batchnorm.momentum=1.5",
    ],
)
def test_the_json_schema_bounds_match_validate(override: str, cli, validator):
    from cnnrun.config.overrides import apply_overrides

    raw, _ = apply_overrides(yaml.safe_load((CONFIGS / "digits.yaml").read_text()), [override])
    assert cli("validate", CONFIGS / "digits.yaml", "--set", override).code == 2
    assert list(validator.iter_errors(raw)), override
