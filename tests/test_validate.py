"""`cnnrun validate` and `cnnrun schema`: tables, JSON, overrides, lint, and no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT

from cnnrun.config.overrides import apply_overrides, parse_key

EXAMPLES = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_configs_validate(path: Path, cli):
    r = cli("validate", path)
    assert r.code == 0, r.stderr
    assert f"{path}: valid" in r.stdout
    assert "total params:" in r.stdout


def test_layer_table_of_the_quick_start(cli):
    r = cli("validate", CONFIGS / "digits.yaml", "--json")
    assert r.code == 0
    doc = json.loads(r.stdout)["results"][0]
    shapes = [(row["kind"], row["output_shape"], row["params"]) for row in doc["layers"]]
    assert shapes == [
        ("conv2d", [None, 8, 8, 16], 160),  # 3*3*1*16 + 16
        ("batchnorm", [None, 8, 8, 16], 64),  # gamma, beta, moving mean, moving variance
        ("conv2d", [None, 8, 8, 32], 4640),  # 3*3*16*32 + 32
        ("maxpool2d", [None, 4, 4, 32], 0),
        ("dropout", [None, 4, 4, 32], 0),
        ("flatten", [None, 512], 0),
        ("dense", [None, 10], 5130),  # 512*10 + 10
    ]
    assert doc["total_params"] == 9994 and doc["trainable_params"] == 9962
    assert doc["classes"] == [str(i) for i in range(10)]
    macs = [row["macs"] for row in doc["layers"]]
    assert macs == [
        8 * 8 * 16 * 3 * 3 * 1,  # every output value is a 3x3x1 dot product
        8 * 8 * 16,  # batchnorm at inference: one scale-and-shift per value
        8 * 8 * 32 * 3 * 3 * 16,
        0,
        0,
        0,
        512 * 10,
    ]
    assert doc["macs_per_sample"] == sum(macs) and doc["flops_per_sample"] == 2 * sum(macs)


def test_several_configs_at_once_and_exit_code(cli):
    bad = ROOT / "tests" / "configs" / "broken" / "01_typo_layer_kind.yaml"
    r = cli("validate", CONFIGS / "digits.yaml", bad)
    assert r.code == 2
    assert "digits.yaml: valid" in r.stdout and "conv2D" in r.stderr


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


jsonschema = pytest.importorskip("jsonschema")
BROKEN = ROOT / "tests" / "configs" / "broken"


def _schema_validator(cli):
    schema = json.loads(cli("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_shipped_config_validates_against_the_json_schema(path: Path, cli):
    import yaml

    errors = list(_schema_validator(cli).iter_errors(yaml.safe_load(path.read_text())))
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
def test_the_json_schema_rejects_what_validate_rejects(name: str, cli):
    import yaml

    path = BROKEN / f"{name}.yaml"
    assert cli("validate", path).code == 2
    assert list(_schema_validator(cli).iter_errors(yaml.safe_load(path.read_text())))


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
def test_the_json_schema_bounds_match_validate(override: str, cli, tmp_path: Path):
    import yaml

    from cnnrun.config.overrides import apply_overrides

    raw, _ = apply_overrides(yaml.safe_load((CONFIGS / "digits.yaml").read_text()), [override])
    assert cli("validate", CONFIGS / "digits.yaml", "--set", override).code == 2
    assert list(_schema_validator(cli).iter_errors(raw)), override


def test_core_commands_do_not_import_tensorflow(tmp_path: Path):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnnrun.cli import app\n"
        "r = CliRunner()\n"
        f"assert r.invoke(app, ['validate', {str(CONFIGS / 'digits.yaml')!r}]).exit_code == 0\n"
        "assert r.invoke(app, ['schema']).exit_code == 0\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_python_dash_m_and_version():
    r = subprocess.run(
        [sys.executable, "-m", "cnnrun", "--version"], capture_output=True, text=True, check=True
    )
    assert r.stdout.startswith("cnnrun ")
