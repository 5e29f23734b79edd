"""The layers of the code and the face: core modules never import TensorFlow, completion
works without it, and the command list's help texts are whole sentences."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import pytest
from conftest import CONFIGS, ROOT

import cnnrun

CORE = sorted(
    m.name
    for m in pkgutil.walk_packages(cnnrun.__path__, "cnnrun.")
    if not m.name.startswith("cnnrun.engine.") and m.name != "cnnrun.__main__"
)


@pytest.mark.parametrize("module", CORE)
def test_no_module_outside_the_engine_imports_tensorflow(module: str):
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_engine_is_where_tensorflow_is():
    assert "cnnrun.engine" in CORE  # the package itself: only `load()`, imported lazily
    engine = [m.name for m in pkgutil.walk_packages(cnnrun.__path__, "cnnrun.")]
    assert {"cnnrun.engine.training", "cnnrun.engine.layers"} <= set(engine)


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


def test_the_command_list_has_no_sentence_cut_short(cli):
    r = cli("--help")
    commands = r.stdout.split("Commands:")[1].strip().splitlines()
    assert len(commands) >= 10
    assert not [c for c in commands if c.rstrip().endswith("...")], commands


def test_help_shows_install_completion(cli):
    assert "--install-completion" in cli("--help").stdout


def test_quick_start_config_is_where_the_readme_says():
    assert (CONFIGS / "digits.yaml").is_file()
