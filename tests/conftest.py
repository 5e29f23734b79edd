"""Shared helpers: run the CLI in-process as a user would, and find the example configs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


# Tests that are not about precision train in float32, so the suite behaves the same on a
# machine whose `auto` precision is bfloat16 or float16 (docs/precision.md).
PIN_FLOAT32 = ("--set", "train.precision=float32")


def run_cli(*args: str) -> Result:
    """`cnnrun ARGS...` in this process; stdout and stderr kept apart."""
    from cnnrun.cli import app

    argv = [str(a) for a in args]
    pinned = any("train.precision" in a for a in argv) or "--resume" in argv
    if argv[:1] == ["train"] and not pinned:
        argv += PIN_FLOAT32
    r = CliRunner().invoke(app, argv)
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


@pytest.fixture
def cli():
    return run_cli


TINY = """\
name: tiny
seed: 7
data:
  source: digits
model:
  layers:
    - conv2d: {{filters: 4, kernel_size: 3, padding: same}}
    - maxpool2d: {{pool_size: 2}}
    - flatten: {{}}
    - dense: {{units: 10, activation: softmax}}
train:
  epochs: {epochs}
  batch_size: 64
  precision: float32
{extra}"""


@pytest.fixture
def tiny_config(tmp_path: Path):
    """Write a tiny, fast digits config and return its path."""

    def make(epochs: int = 2, extra: str = "", name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        path.write_text(TINY.format(epochs=epochs, extra=extra))
        return path

    return make
