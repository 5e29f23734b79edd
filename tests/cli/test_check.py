"""`cnnrun validate` and `cnnrun schema` (cnnrun.cli.check): every shipped config valid with
its layer table, several configs at once, errors as JSON, and no TensorFlow imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import BROKEN, CONFIGS

EXAMPLES = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_configs_validate(path: Path, cli):
    r = cli("validate", path)
    assert r.code == 0, r.stderr
    assert f"{path}: valid" in r.stdout
    assert "total params:" in r.stdout
    # and as CI's smoke test trains them: one epoch (a longer warm-up is clipped, said so)
    r = cli("validate", path, "--set", "train.epochs=1")
    assert r.code == 0, r.stderr
    if "warmup_epochs" in path.read_text() and "search:" not in path.read_text():
        assert "warmup_epochs (1) is clipped to 0" in r.stderr + r.stdout


def test_several_configs_at_once_and_exit_code(cli):
    bad = BROKEN / "01_typo_layer_kind.yaml"
    r = cli("validate", CONFIGS / "digits.yaml", bad)
    assert r.code == 2
    assert "digits.yaml: valid" in r.stdout and "conv2D" in r.stderr


def test_json_errors(cli):
    path = BROKEN / "01_typo_layer_kind.yaml"
    r = cli("validate", path, "--json")
    assert r.code == 2
    doc = json.loads(r.stdout)
    assert doc["valid"] is False
    err = doc["results"][0]["errors"][0]
    assert err["path"] == "model.layers[0].conv2D" and err["line"] == 6
    assert err["hint"] == "did you mean 'conv2d'?"


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
