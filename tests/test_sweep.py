"""`cnnrun sweep`: expanding variants, the seed-noise statistics, parallel runs that survive
a kill, `--print-commands` and `--collect`."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnrun.analysis import stats
from cnnrun.app.sweep import plan as sweep
from cnnrun.errors import UserError

GRID = "model.layers[1].maxpool2d.pool_size=2,4"


def test_expand_names_sets_and_seeds():
    runs = sweep.expand(
        7,
        {"train.batch_size": [32, 64]},
        {"plain": {}, "drop": {"model.layers[2].dropout.rate": 0.5}},
        seeds=2,
    )
    assert [r.name for r in runs][:3] == [
        "plain_batch_size-32-seed7",
        "plain_batch_size-32-seed8",
        "plain_batch_size-64-seed7",
    ]
    assert len(runs) == 8 and len({r.name for r in runs}) == 8
    drop = next(r for r in runs if r.name == "drop_batch_size-64-seed8")
    assert drop.sets == ("model.layers[2].dropout.rate=0.5", "train.batch_size=64", "seed=8")
    # A whole layer list is a value too: JSON is YAML, so it survives --set.
    layers = [{"flatten": {}}, {"dense": {"units": 10, "activation": "softmax"}}]
    (only,) = sweep.expand(1, {}, {"flat": {"model.layers": layers}}, seeds=1)
    key, _, value = only.sets[0].partition("=")
    assert key == "model.layers" and json.loads(value) == layers


def test_long_variant_names_keep_their_values_and_fit_a_run_name():
    grid = {"train.batchnorm_stats": ["moving", "precise"]}
    runs = sweep.expand(1, grid, {"dropout-before-bn": {}}, seeds=1)
    assert [r.name for r in runs] == [
        "dropout-before-bn_batchnorm_stats-moving-seed1",
        "dropout-before-bn_batchnorm_stats-precise-seed1",
    ]
    longer = sweep.expand(1, grid, {"dropout-before-batchnorm-inside-block-two": {}}, seeds=1)
    assert len({r.variant for r in longer}) == 2
    assert all(len(r.name) <= 64 and len(r.variant) <= sweep.MAX_VARIANT for r in longer)


def test_grid_and_key_errors():
    assert sweep.parse_grid(["train.batch_size=32,64", "train.optimizer.name=adam,sgd"]) == {
        "train.batch_size": [32, 64],
        "train.optimizer.name": ["adam", "sgd"],
    }
    with pytest.raises(UserError, match="expected KEY=V1,V2"):
        sweep.parse_grid(["train.batch_size"])
    with pytest.raises(UserError, match="not a key name"):
        sweep.expand(1, {"train..epochs": [1]}, {}, 1)
    with pytest.raises(UserError, match="no values"):
        sweep.expand(1, {"train.epochs": []}, {}, 1)


def test_welch_t_test_matches_the_t_table():
    # two-sided 5% critical values of Student's t
    for t, df in ((12.706, 1), (2.776, 4), (2.228, 10), (1.960, 1e6)):
        assert stats.t_two_sided_p(t, df) == pytest.approx(0.05, abs=2e-4)
    assert stats.t_two_sided_p(0.0, 3) == pytest.approx(1.0)
    clear = stats.welch([0.97, 0.98, 0.975], [0.95, 0.951, 0.949])
    assert clear.p < 0.05 and clear.t > 0
    noise = stats.welch([0.97, 0.95, 0.96], [0.96, 0.97, 0.95])
    assert noise.p > 0.5
    assert math.isnan(stats.welch([0.9], [0.8, 0.7]).p)  # one seed: no spread to judge by
    assert stats.mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    # Holm: the smallest p against alpha/3, the next against alpha/2, stop at the first miss
    assert stats.holm([0.01, 0.03, 0.2]) == [True, False, False]
    assert stats.holm([0.01, 0.02, 0.04]) == [True, True, True]


def test_a_broken_variant_stops_the_sweep_before_any_run(cli, tiny_config, tmp_path: Path):
    cfg = tiny_config()
    r = cli(
        "sweep",
        cfg,
        "--grid",
        "model.layers[1].maxpool2d.pool_size=2,64",
        "--runs-dir",
        tmp_path / "runs",
    )
    assert r.code == 2
    assert "variant pool_size-64" in r.stderr and "pool_size" in r.stderr
    assert not (tmp_path / "runs").exists()


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


def _sweep_process(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnrun", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _statuses(sweep_dir: Path) -> dict[str, str]:
    return {name: s.status for name, (_, s) in sweep.find_runs(sweep_dir).items()}


@pytest.mark.slow
def test_parallel_sweep_killed_midway_resumes_only_the_missing_runs(tiny_config, tmp_path):
    cfg = tiny_config(epochs=3)
    runs_dir = tmp_path / "runs"
    proc = _sweep_process(
        str(cfg), "--grid", GRID, "--seeds", "2", "--jobs", "2", "--runs-dir", str(runs_dir)
    )
    deadline = time.time() + 240
    while time.time() < deadline:  # kill the sweep as soon as its first run has completed
        dirs = list(runs_dir.glob("*_sweep-tiny"))
        if dirs and "completed" in _statuses(dirs[0]).values():
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("no run completed in time")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (sweep_dir,) = dirs
    time.sleep(0.5)
    deadline = time.time() + 60  # the children follow their parent (SIGTERM) and stop
    while time.time() < deadline and "running" in _statuses(sweep_dir).values():
        time.sleep(0.5)
    before = _statuses(sweep_dir)
    completed = {n for n, s in before.items() if s == "completed"}
    assert 1 <= len(completed) < 4, before
    assert "running" not in before.values(), before
    stamps = {
        n: (d / "summary.json").stat().st_mtime_ns
        for n, (d, _) in sweep.find_runs(sweep_dir).items()
        if n in completed
    }

    r = subprocess.run(
        [sys.executable, "-m", "cnnrun", "sweep", "--resume", str(sweep_dir), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{4 - len(completed)} of 4 runs to do" in r.stdout
    ran = [line.split()[1] for line in r.stdout.splitlines() if re.match(r"\[\d/4\] ", line)]
    assert sorted(ran) == sorted((set(before) - completed) | _missing(before))
    after = sweep.find_runs(sweep_dir)
    assert {n: s.status for n, (_, s) in after.items()} == dict.fromkeys(
        [r.name for r in sweep.read_plan(sweep_dir).runs], "completed"
    )
    for n, stamp in stamps.items():  # finished runs were not touched
        assert (after[n][0] / "summary.json").stat().st_mtime_ns == stamp
    run_folders = [d for d in sweep_dir.iterdir() if (d / "summary.json").exists()]
    assert len(run_folders) == 4  # interrupted runs were resumed in place, not duplicated
    results = json.loads((sweep_dir / "sweep.json").read_text())["results"]
    assert [v["seeds_done"] for v in results["variants"]] == [2, 2]
    assert (sweep_dir / "sweep_curves.png").stat().st_size > 10_000


def _missing(before: dict[str, str]) -> set[str]:
    names = {f"pool_size-{p}-seed{s}" for p in (2, 4) for s in (7, 8)}
    return names - set(before)


def test_sweep_section_with_layer_variants(cli, tiny_config, tmp_path: Path):
    extra = """sweep:
  seeds: 2
  variants:
    plain: {}
    drop:
      model.layers: [{conv2d: {filters: 4}}, {maxpool2d: {}}, {flatten: {}},
                     {dropout: 0.5}, {dense: {units: 10, activation: softmax}}]
"""
    cfg = tiny_config(extra=extra)
    assert cli("validate", cfg).code == 0  # train and validate ignore the section
    r = cli("sweep", cfg, "--print-commands", "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.stderr
    lines = [shlex.split(line) for line in r.stdout.splitlines() if not line.startswith("#")]
    assert [argv[argv.index("--name") + 1] for argv in lines] == [
        "plain-seed7",
        "plain-seed8",
        "drop-seed7",
        "drop-seed8",
    ]
    key, _, value = lines[2][lines[2].index("--set") + 1].partition("=")
    assert key == "model.layers" and json.loads(value)[3] == {"dropout": 0.5}
    # the printed line is a valid config for train: check it without training
    assert cli("validate", cfg, "--set", lines[2][lines[2].index("--set") + 1]).code == 0


def test_resume_refuses_a_changed_config_and_collect_a_non_sweep(cli, tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    runs_dir = tmp_path / "runs"
    assert cli("sweep", cfg, "--grid", GRID, "--print-commands", "--runs-dir", runs_dir).code == 0
    (sweep_dir,) = runs_dir.iterdir()
    cfg.write_text(cfg.read_text().replace("epochs: 1", "epochs: 2"))
    r = cli("sweep", "--resume", sweep_dir)
    assert r.code == 2 and "changed since the sweep started" in r.stderr
    r = cli("sweep", "--collect", tmp_path)
    assert r.code == 2 and "is not a sweep folder" in r.stderr
    r = cli("sweep", cfg, "--collect", sweep_dir)
    assert r.code == 2 and "exactly one of" in r.stderr
