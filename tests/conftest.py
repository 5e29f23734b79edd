"""The fixtures every test package shares: the CLI, the tiny config, and the runs that are
trained or written once and then only read (tests that write into one copy it first)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import V01_RUN, Result, only_run, run_cli, tiny_yaml
from tests.support.synthetic import make_run


@pytest.fixture
def cli():
    """`cnnrun ARGS...` in this process: `cli("train", cfg)` gives code, stdout, stderr."""
    return run_cli


@pytest.fixture
def tiny_config(tmp_path: Path):
    """Write a tiny, fast digits config and return its path."""

    def make(epochs: int = 2, extra: str = "", name: str = "tiny.yaml") -> Path:
        return tiny_yaml(tmp_path / name, epochs, extra)

    return make


@dataclass(frozen=True)
class TrainedRun:
    """A run trained by `cnnrun train CONFIG` (not quiet): its folder, config and output."""

    path: Path
    config: Path
    result: Result


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Iterator[TrainedRun]:
    """The tiny digits config trained for 3 epochs, once a session. Tests only read it:
    listed, plotted, predicted, exported, inspected. One that writes into it takes
    `digits_run_copy`."""
    root = tmp_path_factory.mktemp("digits-run")
    config = tiny_yaml(root / "tiny.yaml", epochs=3)
    r = run_cli("train", config, "--runs-dir", root / "runs")
    assert r.code == 0, r.stderr
    run = only_run(root / "runs")
    before = _snapshot(run)
    yield TrainedRun(run, config, r)
    assert _snapshot(run) == before, "a test wrote into digits_run: take digits_run_copy"


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder`: its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def digits_run_copy(digits_run: TrainedRun, tmp_path: Path) -> Path:
    """A copy of the shared digits run, in this test's own runs folder, to write into."""
    run = tmp_path / "runs" / digits_run.path.name
    shutil.copytree(digits_run.path, run)
    return run


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """A copy of the run folder and weights written by cnnrun 0.1 (tests/fixtures)."""
    run = tmp_path / "runs" / V01_RUN.name
    shutil.copytree(V01_RUN, run)
    return run


@pytest.fixture
def synthetic_runs(tmp_path: Path) -> Path:
    """A runs folder of two synthetic runs (one overfits) and three folders that are not
    whole runs: not a run, a corrupt summary, a half-written run."""
    d = tmp_path / "runs"
    make_run(d, 1, epochs=30)
    make_run(d, 2, epochs=12, overfit=True)
    (d / "not-a-run").mkdir()
    corrupt = d / "2026-11-02T00-00-00_corrupt"
    corrupt.mkdir()
    (corrupt / "summary.json").write_text('{"status": "compl')
    half = d / "2026-11-03T00-00-00_half"
    half.mkdir()
    (half / "config.yaml").write_text("name: half\n")
    return d
