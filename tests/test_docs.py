"""The README and docs/ say what the code does: links resolve, every layer kind and every
command is documented, and the quick start is the install CI runs."""

from __future__ import annotations

import re

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_link_in_the_readme_and_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_the_table_of_layer_kinds_is_the_declarations():
    """docs/config.md's table pairs each kind with the Keras class its declaration names,
    and the README's list names every kind."""
    from cnnrun.config.layers import REGISTRY

    text = (ROOT / "docs" / "config.md").read_text()
    table = text.split("| kind | Keras layer | main arguments |")[1].split("\n\n")[0]
    documented = {}
    for row in table.strip().splitlines()[1:]:
        kinds, classes = (re.findall(r"`([A-Za-z0-9]+)`", cell) for cell in row.split("|")[1:3])
        assert len(kinds) == len(classes), row
        documented |= dict(zip(kinds, classes, strict=True))
    declared = {k: spec.keras for k, spec in REGISTRY.items() if not spec.block}
    assert documented == declared
    blocks = [k for k, spec in REGISTRY.items() if spec.block]
    assert not [k for k in [*blocks, *declared] if f"`{k}`" not in text + README]


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
