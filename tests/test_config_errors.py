"""A corpus of broken configs: each must exit 2 naming the field and the YAML line, no traceback.

Each file in `configs/broken/` starts with `# expect: FIELD PATH | LINE | WORDS`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BROKEN = sorted((Path(__file__).parent / "configs" / "broken").glob("*.yaml"))


def expectation(path: Path) -> tuple[str, str, str]:
    head = path.read_text().splitlines()[0]
    field, line, words = (part.strip() for part in head.removeprefix("# expect:").split("|"))
    return field, line, words


def test_corpus_is_large_enough():
    assert len(BROKEN) >= 25


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
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


def test_json_errors(cli, tmp_path: Path):
    import json

    path = BROKEN[0]
    r = cli("validate", path, "--json")
    assert r.code == 2
    doc = json.loads(r.stdout)
    assert doc["valid"] is False
    err = doc["results"][0]["errors"][0]
    assert err["path"] == "model.layers[0].conv2D" and err["line"] == 6
    assert err["hint"] == "did you mean 'conv2d'?"


def test_debug_is_not_needed_for_user_errors(cli):
    r = cli("validate", BROKEN[0], "--debug")
    assert r.code == 2 and "Traceback" not in r.stderr
