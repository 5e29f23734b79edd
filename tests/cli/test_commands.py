"""`cnnrun.cli`'s command table: `--help` lists every command in whole sentences and offers
completion, `python -m cnnrun` works, `--version` says which."""

from __future__ import annotations

import subprocess
import sys


def test_the_command_list_has_no_sentence_cut_short(cli):
    r = cli("--help")
    commands = r.stdout.split("Commands:")[1].strip().splitlines()
    assert len(commands) >= 10
    assert not [c for c in commands if c.rstrip().endswith("...")], commands


def test_help_shows_install_completion(cli):
    assert "--install-completion" in cli("--help").stdout


def test_python_dash_m_and_version():
    r = subprocess.run(
        [sys.executable, "-m", "cnnrun", "--version"], capture_output=True, text=True, check=True
    )
    assert r.stdout.startswith("cnnrun ")
