"""Training as a process would see it: a deterministic config, `cnnrun train` started as a
child process (optionally with slowed checkpoint writes), and two runs compared bit for bit."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

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
    """A deterministic digits config with dropout and augmentation (their seeds resume too)."""
    path = tmp_path / "det.yaml"
    path.write_text(DET.format(epochs=epochs, extra=extra))
    return path


RESNET = """\
name: res
seed: 5
deterministic: true
data: {{source: digits}}
model:
  layers:
    - conv2d: {{filters: 4, padding: same, use_bias: false, activation: linear}}
    - batchnorm: {{}}
    - activation: relu
    - residual:
        layers:
          - conv2d: {{filters: 4, padding: same, use_bias: false, activation: linear}}
          - batchnorm: {{}}
          - activation: relu
          - conv2d: {{filters: 4, padding: same, use_bias: false, activation: linear}}
          - batchnorm: {{}}
    - residual:
        shortcut: projection
        layers:
          - separableconv2d: {{filters: 8, strides: 2, padding: same, activation: linear}}
          - batchnorm: {{}}
          - activation: relu
          - depthwiseconv2d: {{padding: same}}
    - globalavgpool2d
    - dense: {{units: 10, activation: softmax}}
train:
  epochs: {epochs}
  batch_size: 64
  precision: float32
  optimizer: {{name: sgd, learning_rate: 0.05, momentum: 0.9, nesterov: true, clipnorm: 1.0}}
  lr_schedule: {{name: cosine, warmup_epochs: 1}}
{extra}"""


def resnet_config(tmp_path: Path, epochs: int = 3, extra: str = "") -> Path:
    """A residual network of separable convolutions, SGD with a cosine schedule."""
    path = tmp_path / "res.yaml"
    path.write_text(RESNET.format(epochs=epochs, extra=extra))
    return path


def weights(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 weights file, by its path in the file."""
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path) as f:
        f.visititems(
            lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None
        )
    return out


def history(run: Path) -> list[dict]:
    """history.csv's rows as read."""
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def metrics(run: Path) -> list[dict]:
    """history.csv's rows without the wall-clock seconds."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history(run)]


def assert_same_run(a: Path, b: Path) -> None:
    """The same history and bit-identical last weights, optimizer state included."""
    assert metrics(a) == metrics(b)
    wa, wb = weights(a / "last.weights.h5"), weights(b / "last.weights.h5")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k  # bit-identical, optimizer state included


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


def start_train(cfg: Path, runs: Path, *extra: str, slow_saves: bool = False) -> subprocess.Popen:
    """`cnnrun train CFG --runs-dir RUNS EXTRA...` as a child process, its output piped."""
    launcher = ["-c", SLOW_SAVES] if slow_saves else ["-m", "cnnrun"]
    return subprocess.Popen(
        [sys.executable, *launcher, "train", str(cfg), "--runs-dir", str(runs), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
