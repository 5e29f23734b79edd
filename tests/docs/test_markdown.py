"""README.md and docs/*.md say what the code does: links resolve, every command is in the
README's table, the quick start is the install CI runs and its config is where it says."""

from __future__ import annotations

import re

from tests.support import CONFIGS, ROOT

README = (ROOT / "README.md").read_text()


def test_every_link_in_the_readme_and_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_every_command_is_in_the_readme_table(cli):
    listing = cli("--help").stdout.split("Commands:")[1]
    names = [line.split()[0] for line in listing.splitlines() if line.strip()]
    assert len(names) >= 10
    assert not [n for n in names if f"| `cnnrun {n}" not in README]


def test_the_quick_start_installs_as_ci_does():
    ci = (ROOT / ".ci" / "run").read_text()
    assert (
        '.venv/bin/pip install -e ".[test]"' in README and 'pip install --quiet -e ".[test]"' in ci
    )
    assert ".venv/bin/cnnrun train configs/digits.yaml" in README


def test_quick_start_config_is_where_the_readme_says():
    assert (CONFIGS / "digits.yaml").is_file()
