"""Where a study lives, refused plainly before any folder is made: a database that does not
answer, a URL that names no study of this kind, an unknown launcher; a plain `postgresql://`
URL is read as psycopg 3's."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cnnrun.app.study.storage import driver_url

GRID = "train.batch_size=32,64"


def test_a_plain_postgresql_url_is_read_as_psycopg_3():
    assert (
        driver_url("postgresql://ana@db:5432/studies") == "postgresql+psycopg://ana@db:5432/studies"
    )
    assert driver_url("sqlite:///study.db") == "sqlite:///study.db"


@pytest.mark.parametrize("command", ["sweep", "search"])
def test_a_database_that_does_not_answer_is_one_line_and_no_folder(
    cli, tiny_config, tmp_path: Path, command: str
):
    extra = "search:\n  space:\n    train.batch_size: {choices: [32, 64]}\n"
    cfg = tiny_config(epochs=1, extra=extra)
    url = f"postgresql+psycopg://ana:s3cret@/studies?host={tmp_path}/nosock&port=5999"
    more = ["--grid", GRID] if command == "sweep" else []
    t0 = time.monotonic()
    r = cli(command, cfg, *more, "--storage", url, "--runs-dir", tmp_path / "runs")
    assert time.monotonic() - t0 < 15
    assert r.code == 2, r.stderr
    assert "Optuna cannot open this storage" in r.stderr and "s3cret" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3 and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()


def test_join_and_collect_name_the_studies_a_storage_holds(cli, tiny_config, tmp_path: Path):
    cfg, url = tiny_config(epochs=1), f"sqlite:///{tmp_path / 'studies.db'}"
    for name in ("one", "two"):
        made = cli(
            "sweep", cfg, "--grid", GRID, "--storage", url, "--name", name,
            "--runs-dir", tmp_path / "runs", "--print-sbatch",
        )  # fmt: skip
        assert made.code == 0, made.stderr
    r = cli("sweep", "--collect", url, "--runs-dir", tmp_path / "elsewhere")
    assert r.code == 2 and "this storage holds 2 sweeps" in r.stderr, r.stderr
    assert "--study NAME" in r.stderr
    r = cli("search", "--join", url, "--runs-dir", tmp_path / "elsewhere")
    assert r.code == 2 and "holds no search cnnrun made" in r.stderr, r.stderr
    r = cli("sweep", "--join", url, "--study", "nope", "--runs-dir", tmp_path / "elsewhere")
    assert r.code == 2 and "no sweep named 'nope'" in r.stderr, r.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_an_unknown_launcher_is_refused_before_any_folder(cli, tiny_config, tmp_path: Path):
    cfg = tiny_config(epochs=1)
    r = cli("sweep", cfg, "--grid", GRID, "--launcher", "pbs", "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and "--launcher 'pbs'" in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()


def test_a_dead_workers_run_elsewhere_is_run_again_from_its_start(cli, tiny_config, tmp_path: Path):
    import optuna

    from cnnrun.app.study.liveness import retry
    from cnnrun.app.study.storage import open_storage

    cfg, url = tiny_config(epochs=1), f"sqlite:///{tmp_path / 'studies.db'}"
    made = cli(
        "sweep", cfg, "--grid", "train.batch_size=32", "--storage", url,
        "--runs-dir", tmp_path / "a", "--print-sbatch",
    )  # fmt: skip
    assert made.code == 0, made.stderr
    # a worker on another machine took the run, wrote a folder this machine cannot see, died
    store = open_storage(tmp_path, url)
    (name,) = optuna.get_all_study_names(store)
    study = optuna.load_study(study_name=name, storage=store)
    taken = study.ask()
    taken.set_user_attr("run_dir", "/elsewhere/2026-12-07T10-00-00_batch_size-32-seed7")
    retry(study, store, taken.number)

    r = cli("sweep", "--join", url, "--study", name, "--runs-dir", tmp_path / "b", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["status"] == {"completed": 1}
    trials = optuna.load_study(study_name=name, storage=store).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    ran = Path(trials[1].user_attrs["run_dir"])
    assert ran.parent == tmp_path / "b" / name and ran.name.endswith("_batch_size-32-seed7")


def test_a_search_worker_joins_from_the_url_alone(cli, tmp_path: Path):
    from tests.support.search import search_config

    grid = "  space:\n    train.batch_size: {choices: [32, 64]}\n  sampler: grid\n"
    cfg, url = (
        search_config(tmp_path, search=grid, trials=2, epochs=1),
        f"sqlite:///{tmp_path}/s.db",
    )
    made = cli("search", cfg, "--storage", url, "--runs-dir", tmp_path / "a", "--print-sbatch")
    assert made.code == 0 and made.stdout.startswith("#!/bin/bash"), made.stderr
    # another machine: neither the search folder nor the config file at its path
    cfg.rename(tmp_path / "moved.yaml")
    r = cli("search", "--join", url, "--runs-dir", tmp_path / "b", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"completed": 2}
    assert sorted(t["params"]["train.batch_size"] for t in doc["trials"]) == [32, 64]
    (folder,) = (tmp_path / "b").iterdir()
    assert (folder / "search.yaml").read_bytes() == (tmp_path / "moved.yaml").read_bytes()
    assert all(Path(t["run_dir"]).parent == folder for t in doc["trials"])
