"""What the tests share that is not a fixture: the repository's paths, the tiny config, and
`cnnrun ARGS...` run in this process as a user would run it.

Light on purpose (no TensorFlow, no Typer at import): `benchmarks/bench_cli.py` imports
`support.synthetic` from here too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
DIGITS = CONFIGS / "digits.yaml"
TESTS = ROOT / "tests"
# configs that must fail, each with its expected message on its first line
BROKEN = TESTS / "config" / "broken"
# a run folder written by cnnrun 0.1 (the docstrings of cnnrun/runs/ read it too)
V01_RUN = TESTS / "fixtures" / "v0.1-run"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


# Tests that are not about precision train in float32, so the suite behaves the same on a
# machine whose `auto` precision is bfloat16 or float16 (docs/precision.md).
PIN_FLOAT32 = ("--set", "train.precision=float32")


def run_cli(*args: object) -> Result:
    """`cnnrun ARGS...` in this process; stdout and stderr kept apart."""
    from typer.testing import CliRunner

    from cnnrun.cli import app

    argv = [str(a) for a in args]
    pinned = any("train.precision" in a for a in argv) or "--resume" in argv
    if argv[:1] == ["train"] and not pinned:
        argv += PIN_FLOAT32
    r = CliRunner().invoke(app, argv)
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


def refused(r: Result, *words: str) -> None:
    """A plain refusal: exit 2, one `error:` line first, no traceback, each word said."""
    assert r.code == 2, (r.code, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: "), r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def only_run(runs: Path) -> Path:
    """The one run folder in `runs`."""
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


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


def tiny_yaml(path: Path, epochs: int = 2, extra: str = "") -> Path:
    """Write the tiny, fast digits config to `path` and return it."""
    path.write_text(TINY.format(epochs=epochs, extra=extra))
    return path
