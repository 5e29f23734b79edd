"""Crash safety: signals, SIGKILL at random moments, exact resume, refusals, full disk,
hostile names and concurrent runs."""

from __future__ import annotations

import csv
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytestmark = pytest.mark.slow

DET = """\
name: det
seed: 3
deterministic: true
data: {{source: digits}}
model:
  layers:
    - conv2d: {{filters: 8, kernel_size: 3, padding: same}}
    - dropout: 0.3
    - randomflip: {{mode: horizontal}}
    - maxpool2d: {{pool_size: 2}}
    - flatten: {{}}
    - dense: {{units: 10, activation: softmax}}
train: {{epochs: {epochs}, batch_size: 64, precision: float32}}
{extra}"""


def det_config(tmp_path: Path, epochs: int = 4, extra: str = "") -> Path:
    path = tmp_path / "det.yaml"
    path.write_text(DET.format(epochs=epochs, extra=extra))
    return path


def only_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def weights(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path) as f:
        f.visititems(
            lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None
        )
    return out


def metrics(run: Path) -> list[dict]:
    with open(run / "history.csv") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def assert_same_run(a: Path, b: Path) -> None:
    assert metrics(a) == metrics(b)
    wa, wb = weights(a / "last.weights.h5"), weights(b / "last.weights.h5")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k  # bit-identical, optimizer state included


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted 4-epoch deterministic run every resumed run must equal."""
    from conftest import run_cli

    tmp = tmp_path_factory.mktemp("reference")
    assert run_cli("train", det_config(tmp), "--runs-dir", tmp / "runs", "--quiet").code == 0
    return only_run(tmp / "runs")


def test_resume_is_bit_identical(reference: Path, cli, tmp_path: Path):
    cfg = det_config(tmp_path, epochs=2)
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet").code == 0
    run = only_run(tmp_path / "runs")
    r = cli("train", "--resume", run, "--epochs", "4")
    assert r.code == 0, r.stderr
    assert "resuming" in r.stdout and "epoch 3/4" in r.stdout
    assert_same_run(reference, run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 4
    # a completed run: nothing to do, nothing changed
    before = (run / "summary.json").read_text()
    r = cli("train", "--resume", run)
    assert r.code == 0 and "nothing to do" in r.stdout
    assert (run / "summary.json").read_text() == before


def test_resume_refuses_another_config_or_data(cli, tmp_path: Path):
    x = np.random.default_rng(0).integers(0, 255, (60, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(60) % 3)
    cfg = tmp_path / "npz.yaml"
    cfg.write_text(
        "data: {source: npz, path: d.npz}\nmodel:\n  layers:\n    - flatten\n"
        "    - dense: {units: 3, activation: softmax}\ntrain: {epochs: 1}\n"
    )
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet").code == 0
    run = only_run(tmp_path / "runs")
    r = cli("train", "--resume", run, "--epochs", "2", "--set", "train.optimizer.learning_rate=0.1")
    assert r.code == 2
    assert "train.optimizer.learning_rate: the run has 0.001, the new config 0.1" in r.stderr
    assert "--force" in r.stderr
    r = cli("train", cfg, "--resume", run, "--epochs", "2", "--set", "train.batch_size=8")
    assert r.code == 2 and "train.batch_size" in r.stderr
    np.savez(tmp_path / "d.npz", x=x[::-1], y=np.arange(60) % 3)  # the data changed
    r = cli("train", "--resume", run, "--epochs", "2")
    assert r.code == 2 and "the data differs" in r.stderr
    r = cli("train", "--resume", run, "--epochs", "2", "--force", "--quiet")
    assert r.code == 0, r.stderr
    assert json.loads((run / "summary.json").read_text())["epochs_run"] == 2
    assert cli("train", "--resume", tmp_path).code == 2  # not a run folder


def test_resume_never_replaces_a_better_best_file(cli, tmp_path: Path):
    # mode max on val_loss makes an early epoch "best"; later epochs are all worse, so after
    # the resume the best file must still hold the best epoch of the whole history
    cfg = det_config(tmp_path, epochs=2, extra="checkpoint: {monitor: val_loss, mode: max}\n")
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet").code == 0
    run = only_run(tmp_path / "runs")
    assert cli("train", "--resume", run, "--epochs", "4", "--quiet").code == 0
    losses = [float(r["val_loss"]) for r in metrics(run)]
    with h5py.File(run / "best.weights.h5") as f:
        epoch = int(f.attrs["cnnrun_epoch"])
    assert len(losses) == 4 and epoch == int(np.argmax(losses)) + 1 and epoch <= 2


# `python -c SLOW_SAVES train ...`: cnnrun with every weights file's metadata write slowed, so
# that a kill lands inside checkpoint writes much of the time. The test patches; the product
# has no hook for it.
SLOW_SAVES = """
import sys, time
from cnnrun.runs import weights
add = weights.add_metadata
def slow(path, metadata):
    add(path, metadata)
    time.sleep(0.4)
weights.add_metadata = slow
from cnnrun.cli import main
sys.argv[0] = "cnnrun"
main()
"""


def _start(cfg: Path, runs: Path, *extra: str, slow_saves: bool = False) -> subprocess.Popen:
    launcher = ["-c", SLOW_SAVES] if slow_saves else ["-m", "cnnrun"]
    return subprocess.Popen(
        [sys.executable, *launcher, "train", str(cfg), "--runs-dir", str(runs), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["SIGINT", "SIGTERM", "SIGINT-twice"],
)
def test_signal_stops_cleanly_with_exit_130(signals, tmp_path: Path):
    proc = _start(det_config(tmp_path, epochs=200), tmp_path / "runs")
    for line in proc.stdout:  # plain mode: one line per epoch
        if line.startswith("epoch 2/"):
            break
    for sig in signals:  # a second Ctrl-C stops at once instead of at the batch end
        proc.send_signal(sig)
        time.sleep(0.01)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cnnrun train --resume" in err
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_run"] >= 2
    assert (run / "curves" / "loss.png").is_file()
    for name in ("best.weights.h5", "last.weights.h5"):
        from cnnrun.engine.predict import load_model

        load_model(run / name) if name.startswith("best") else weights(run / name)
    assert len(metrics(run)) == summary["epochs_run"]


def test_sigkill_at_random_moments_then_resume_equals_the_uninterrupted_run(
    reference: Path, tmp_path: Path
):
    from cnnrun.engine.predict import load_model

    rng = random.Random(1127)
    cfg = det_config(tmp_path)
    for trial in range(2):  # two kills at random moments; more add time, not cases
        runs = tmp_path / f"runs{trial}"
        # a slow save makes a kill land inside checkpoint writes much of the time
        proc = _start(cfg, runs, "--quiet", slow_saves=True)
        deadline = time.monotonic() + 60
        while not any(runs.glob("*/last.weights.h5")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        proc.kill()
        proc.wait()
        run = only_run(runs)
        load_model(run / "best.weights.h5")  # loads: never torn
        assert json.loads((run / "summary.json").read_text())["status"] == "running"
        r = subprocess.run(
            [sys.executable, "-m", "cnnrun", "train", "--resume", str(run), "--quiet"],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        assert not list(run.glob(".*tmp*"))  # resume cleans what the kill left half-written
        assert_same_run(reference, run)


def test_full_disk_fails_plainly_and_keeps_the_best_file(cli, tmp_path: Path, monkeypatch):
    import errno

    from cnnrun import atomic
    from cnnrun.runs import folder as runs_mod

    calls = {"n": 0}
    original = atomic.write_text

    def full(path, text):
        if path.name == runs_mod.HISTORY:  # the second epoch's history write fails
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, text)

    monkeypatch.setattr(atomic, "write_text", full)
    r = cli("train", det_config(tmp_path), "--runs-dir", tmp_path / "runs")
    assert r.code == 1
    assert "No space left on device" in r.stderr and "Traceback" not in r.stderr
    run = only_run(tmp_path / "runs")
    from cnnrun.engine.predict import load_model

    load_model(run / "best.weights.h5")
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"


def test_hostile_names_stay_inside_the_runs_folder(cli, tiny_config, tmp_path: Path):
    runs = tmp_path / "runs"
    for name in ("../../escape", "a/b\\\\c", "名前 with spaces", "..", "-rf"):
        r = cli("train", tiny_config(epochs=1), "--runs-dir", runs, "--name", name, "--quiet")
        assert r.code == 0, r.stderr
    made = [p for p in runs.iterdir()]
    assert len(made) == 5 and all(p.parent == runs for p in made)
    assert not (tmp_path.parent / "escape").exists()


def test_four_concurrent_runs_get_four_complete_folders(tiny_config, tmp_path: Path):
    cfg = tiny_config(epochs=1)
    procs = [_start(cfg, tmp_path / "runs", "--quiet") for _ in range(4)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    made = sorted((tmp_path / "runs").iterdir())
    assert len(made) == 4
    for run in made:
        assert json.loads((run / "summary.json").read_text())["status"] == "completed"
