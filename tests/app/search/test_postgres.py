"""A search kept in a real PostgreSQL server (`--storage postgresql+psycopg://...`): two worker
processes share the study, each trial runs once, and the table and `best.yaml` are written
again from the server alone, in a folder that holds none of the run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.postgres import postgres_server
from tests.support.search import only, search_config

pytestmark = [pytest.mark.slow, pytest.mark.integration]
GRID = "  space:\n    train.batch_size: {choices: [32, 64]}\n  sampler: grid\n"


def test_two_workers_share_a_study_in_postgresql(cli, tmp_path: Path):
    cfg = search_config(tmp_path, search=GRID, trials=2, epochs=1)
    runs = tmp_path / "runs"
    with postgres_server() as url:
        r = cli("search", cfg, "--runs-dir", runs, "--jobs", 2, "--storage", url, "--json")
        assert r.code == 0, r.stdout[-2000:] + r.stderr[-2000:]
        import optuna

        search_dir = only("*_search-search", runs)
        study = optuna.load_study(study_name=search_dir.name, storage=url)
        sizes = sorted(t.params["train.batch_size"] for t in study.trials if t.state.is_finished())
        elsewhere = tmp_path / "elsewhere"
        got = cli("search", "--collect", url, "--runs-dir", elsewhere, "--json")
        assert got.code == 0, got.stderr
    assert sizes in ([0, 1], [32, 64]), sizes  # each grid point once, one per worker
    trials = json.loads(r.stdout)["trials"]
    assert len({t["run_name"] for t in trials}) == 2
    assert json.loads((search_dir / "search.json").read_text())["storage"] == url
    assert not (search_dir / "study.journal").exists()
    assert sorted(f.name for f in (search_dir / "logs").iterdir()) == [
        "worker-1.log",
        "worker-2.log",
    ]

    # the reader's folder has the table and best.yaml, from the server alone
    collected, reader = json.loads(got.stdout), elsewhere / search_dir.name
    assert [(t["number"], t["params"], t["value"], t["status"], t["epochs"]) for t in trials] == [
        (t["number"], t["params"], t["value"], t["status"], t["epochs"])
        for t in collected["trials"]
    ]
    assert collected["best"]["number"] == json.loads(r.stdout)["best"]["number"]
    mine, theirs = (yaml.safe_load((d / "best.yaml").read_text()) for d in (search_dir, reader))
    assert mine == theirs and theirs["train"]["batch_size"] in (32, 64)
    assert (reader / "search.png").stat().st_size > 10_000
    assert not [d for d in reader.iterdir() if d.is_dir()]  # no run folder there
