"""`cnnrun.config.load`: a config read, overridden and validated, every problem reported at
once with its field and YAML line. A corpus of broken configs (tests/config/broken/, each
starting with `# expect: FIELD PATH | LINE | WORDS`) must exit 2 naming the field and the
line, without a traceback and before any run folder; YAML that would exhaust memory or the
stack is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import BROKEN, refused

CORPUS = sorted(BROKEN.glob("*.yaml"))


def expectation(path: Path) -> tuple[str, str, str]:
    head = path.read_text().splitlines()[0]
    field, line, words = (part.strip() for part in head.removeprefix("# expect:").split("|"))
    return field, line, words


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_config_is_reported_plainly(path: Path, cli, tmp_path: Path):
    field, line, words = expectation(path)
    runs = tmp_path / "runs"
    r = cli("validate", path)
    assert r.code == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    location = f"{path}:{line}" if line else str(path)
    first = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert any(location in ln and field in ln and words in ln for ln in first), r.stderr
    # train reports the same before any work and makes no run folder
    r = cli("train", path, "--runs-dir", runs)
    assert r.code == 2
    assert words in r.stderr
    assert not runs.exists() or not any(runs.iterdir())


def test_all_errors_reported_together(cli, tmp_path: Path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "data: {source: digitz}\n"
        "model:\n"
        "  layers:\n"
        "    - conv2D: {filters: 8}\n"
        "    - dense: {units: 0}\n"
        "train: {epoch: 3}\n"
    )
    r = cli("validate", path)
    assert r.code == 2
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 4, r.stderr
    assert [ln.split(":")[2] for ln in errors] == ["1", "4", "5", "6"]


def test_a_yaml_alias_bomb_is_refused(cli, tmp_path: Path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join([*lines, "data: {source: digits}", "model: {layers: *a8}"]) + "\n")
    refused(cli("validate", bomb), "expands to more than", "aliases")


def test_huge_and_deep_configs_are_refused(cli, tmp_path: Path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_100_000 + "\n")
    refused(cli("validate", big), "a config is at most")
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(cli("validate", deep), "nests too deeply")
