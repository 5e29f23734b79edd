"""`cnnrun.cli.common`, what every command shares: completion without TensorFlow, problems
printed as typed (never as console markup), and the exit-code guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import BROKEN, ROOT, refused

COMPLETE = """
import os, sys
from cnnrun.cli import main
try:
    main()
except SystemExit:
    pass
assert "tensorflow" not in sys.modules and "keras" not in sys.modules
"""


def _complete(words: str, cwd=ROOT) -> list[str]:
    env = {
        **os.environ,
        "_CNNRUN_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    r = subprocess.run(
        [sys.executable, "-c", COMPLETE], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_completion_of_commands_set_keys_configs_and_run_folders(tmp_path):
    assert "train" in _complete("cnnrun tr")
    keys = _complete("cnnrun train --set train.optimizer.le")
    assert keys == ["train.optimizer.learning_rate="]
    configs = _complete("cnnrun validate configs/digits")
    assert "configs/digits.yaml" in configs and all(c.endswith(".yaml") for c in configs)
    (tmp_path / "runs" / "a_run").mkdir(parents=True)
    (tmp_path / "runs" / "notes.txt").write_text("")
    assert _complete("cnnrun plot runs/", cwd=tmp_path) == ["runs/a_run/"]


HEAD = "model: {layers: [flatten, {dense: {units: 2, activation: softmax}}]}\n"


@pytest.mark.parametrize("name", ["a[/b].yaml", "[bold]x[/bold].yaml", "[red].yaml"])
def test_paths_and_keys_with_brackets_are_printed_as_typed(name, cli, tmp_path: Path):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('data: {source: digits}\n"[/x]": 1\n"[b]y": 2\n' + HEAD)
    r = cli("validate", path)
    refused(r, str(path), "'[/x]'", "'[b]y'")
    r = cli("validate", tmp_path / "[missing].yaml")
    refused(r, "[missing].yaml: no such file")


def test_debug_is_not_needed_for_user_errors(cli):
    r = cli("validate", BROKEN / "01_typo_layer_kind.yaml", "--debug")
    assert r.code == 2 and "Traceback" not in r.stderr
