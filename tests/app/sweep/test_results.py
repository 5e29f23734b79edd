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
