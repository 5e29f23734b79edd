"""A search's `--storage`: a relative SQLite file lives in the search folder, so a search
resumed from another folder finds its study (no trial twice); a resume with another storage
is refused; a password in the URL is never printed nor written to `search.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_cli
from tests.support.search import only, search_config

pytestmark = pytest.mark.slow

CHOICES = "  space:\n    train.batch_size: {choices: [32, 64, 128]}\n  sampler: grid\n"


@pytest.fixture
def cnnrun_in(monkeypatch):
    """`cnnrun ARGS...` in this process, run from the folder `cwd`."""

    def run(cwd: Path, *args: object) -> Any:
        monkeypatch.chdir(cwd)
        return run_cli(*args)

    return run


def test_a_relative_sqlite_study_is_found_again_from_another_folder(tmp_path: Path, cnnrun_in):
    cfg = search_config(tmp_path, search=CHOICES, trials=3, epochs=1)
    runs = tmp_path / "runs"
    first = cnnrun_in(
        tmp_path,
        "search",
        cfg,
        "--runs-dir",
        runs,
        "--trials",
        2,
        "--storage",
        "sqlite:///study.db",
    )
    assert first.code == 0, first.stderr
    search_dir = only("*_search-search", runs)
    recorded = json.loads((search_dir / "search.json").read_text())["storage"]
    assert recorded == f"sqlite:///{search_dir.resolve()}/study.db"
    assert not (tmp_path / "study.db").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cnnrun_in(elsewhere, "search", "--resume", search_dir, "--trials", 3, "--json")
    assert r.code == 0, r.stderr
    names = [t["run_name"] for t in json.loads(r.stdout)["trials"]]
    assert len(names) == len(set(names)) == 3
    assert len([d for d in search_dir.iterdir() if (d / "summary.json").is_file()]) == 3
    other = cnnrun_in(
        elsewhere, "search", "--resume", search_dir, "--storage", "sqlite:///other.db"
    )
    assert other.code == 2 and "keeps its study in" in other.stderr, other.stderr
    assert not (elsewhere / "other.db").exists()
    plan = json.loads((search_dir / "search.json").read_text())  # a storage without the study
    plan["storage"] = f"sqlite:///{elsewhere}/empty.db"
    (search_dir / "search.json").write_text(json.dumps(plan))
    empty = cnnrun_in(elsewhere, "search", "--resume", search_dir)
    assert empty.code == 2 and "holds no study named" in empty.stderr, empty.stderr
    assert len([d for d in search_dir.iterdir() if (d / "summary.json").is_file()]) == 3


def test_a_password_in_the_storage_url_is_never_shown(tmp_path: Path, cnnrun_in):
    cfg = search_config(tmp_path, search=CHOICES, trials=2, epochs=1)
    runs = tmp_path / "runs"
    url = "postgresql://ana:Sup3r-s3cret@127.0.0.1:9/studies"
    r = cnnrun_in(tmp_path, "search", cfg, "--runs-dir", runs, "--storage", url)
    assert r.code == 2, r.stdout + r.stderr
    assert "Sup3r-s3cret" not in r.stdout + r.stderr and "ana:***@127.0.0.1" in r.stderr
    assert "Traceback" not in r.stderr and not runs.exists()


def test_a_torn_journal_is_repaired_and_a_garbage_line_inside_refused(tmp_path: Path, cnnrun_in):
    cfg = search_config(tmp_path, search=CHOICES, trials=3, epochs=1)
    runs = tmp_path / "runs"
    first = cnnrun_in(tmp_path, "search", cfg, "--runs-dir", runs, "--trials", 2)
    assert first.code == 0, first.stderr
    search_dir = only("*_search-search", runs)
    path = search_dir / "study.journal"
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    # garbage between records: refused, naming the file and the line, the file untouched
    path.write_bytes(b"".join([*lines[:3], b"{garbage\n", *lines[3:]]))
    r = cnnrun_in(tmp_path, "search", "--resume", search_dir)
    assert r.code == 2 and "line 4 of the study's journal" in r.stderr, r.stderr
    assert "study.journal" in r.stderr and "Traceback" not in r.stderr
    # a torn last line (a crash mid-write): a copy kept, cut to the last record, resumed
    path.write_bytes(whole + b'{"op_code": 4, "worker_id": "x", "trial_i')
    r = cnnrun_in(tmp_path, "search", "--resume", search_dir, "--trials", 3, "--json")
    assert r.code == 0, r.stderr
    assert (search_dir / "study.journal.torn-1").read_bytes().startswith(whole)
    names = [t["run_name"] for t in json.loads(r.stdout)["trials"]]
    assert len(names) == len(set(names)) == 3  # the two finished trials kept, none twice
    assert all(json.loads(line) for line in path.read_bytes().splitlines())
