"""`cnnrun sweep --print-commands` then `--collect` (cnnrun.app.sweep.results): each printed
line is a `cnnrun train` a CI matrix runs; collect counts what is done and what is missing."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

GRID = "model.layers[1].maxpool2d.pool_size=2,4"


def test_print_commands_then_collect(cli, tiny_config, tmp_path: Path):
    cfg = tiny_config(epochs=1)
    runs_dir = tmp_path / "runs"
    r = cli(
        "sweep", cfg, "--grid", GRID, "--seeds", "2", "--print-commands", "--runs-dir", runs_dir
    )
    assert r.code == 0, r.stderr
    lines = [shlex.split(line) for line in r.stdout.splitlines() if not line.startswith("#")]
    assert len(lines) == 4
    assert all(argv[:3] == ["cnnrun", "train", str(cfg)] for argv in lines)
    assert lines[1][-2:] == ["--set", "seed=8"]
    (sweep_dir,) = runs_dir.iterdir()
    # One "machine of the matrix" runs the first line; collect sees 1 of 4.
    first = cli(*lines[0][1:], "--quiet")
    assert first.code == 0, first.stderr
    r = cli("sweep", "--collect", sweep_dir, "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == {"completed": 1, "missing": 3}
    done = {v["variant"]: v["seeds_done"] for v in doc["variants"]}
    assert done == {"pool_size-2": 1, "pool_size-4": 0}
    assert json.loads((sweep_dir / "sweep.json").read_text())["results"]["status"]["completed"] == 1
    listed = json.loads(cli("runs", runs_dir, "--json").stdout)
    assert [(r["path"], r["status"]) for r in listed] == [(str(sweep_dir), "sweep")]


def test_a_sweep_folder_from_before_the_study_collects_and_resumes(
    cli, tiny_config, tmp_path: Path
):
    cfg, runs_dir = tiny_config(epochs=1), tmp_path / "runs"
    r = cli(
        "sweep", cfg, "--grid", "train.batch_size=32,64", "--print-commands", "--runs-dir", runs_dir
    )
    first = shlex.split(r.stdout.splitlines()[0])
    assert cli(*first[1:], "--quiet").code == 0
    (sweep_dir,) = runs_dir.iterdir()
    # sweep.json as version 1 wrote it: no study, its runs claimed by lock files
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    for key in ("storage", "study_name", "direction", "heartbeat_s"):
        del plan[key]
    plan["version"] = 1
    (sweep_dir / "sweep.json").write_text(json.dumps(plan))
    (done,) = [d for d in sweep_dir.iterdir() if d.is_dir()]
    stamp = (done / "summary.json").stat().st_mtime_ns

    r = cli("sweep", "--collect", sweep_dir, "--json")
    assert r.code == 0 and json.loads(r.stdout)["status"] == {"completed": 1, "missing": 1}
    assert not (sweep_dir / "study.journal").exists()  # collecting changes nothing
    r = cli("sweep", "--resume", sweep_dir)
    assert r.code == 0, r.stderr
    assert "1 of 2 runs to do (1 already done)" in r.stdout
    assert (done / "summary.json").stat().st_mtime_ns == stamp  # not trained again
    after = json.loads((sweep_dir / "sweep.json").read_text())
    assert after["version"] == 2 and after["study_name"] == sweep_dir.name
    assert after["results"]["status"] == {"completed": 2}
    import optuna
    from optuna.storages.journal import JournalFileBackend

    journal = optuna.storages.JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))
    study = optuna.load_study(study_name=sweep_dir.name, storage=journal)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
