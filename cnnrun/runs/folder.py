"""Run folders: unique creation, atomic writes, and reading back history and summary (the
files' names are in `cnnrun.runs.names`, the locks in `cnnrun.runs.locks`).

A run folder holds `config.yaml`, `summary.json`, `history.csv`, `best.weights.h5`,
`last.weights.h5` and `curves/`. Every file is written through `cnnrun.atomic`, so a crash
leaves the old file or the new, never half of one.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnrun import atomic
from cnnrun.errors import Problem, UserError
from cnnrun.paths import require_dir
from cnnrun.runs.names import CONFIG, HISTORY, SEARCH, SUMMARY, SWEEP
from cnnrun.runs.summary import read_summary


def create_run_dir(runs_dir: Path, name: str, now: datetime | None = None) -> Path:
    """Make a new, empty run folder `<timestamp>_<name>` under `runs_dir`.

    `os.mkdir` fails when the folder exists, so two runs started in the same second (even in
    two processes) get two folders: the second becomes `..._<name>-2`.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y-%m-%dT%H-%M-%S")
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip(".-") or "run"
    for n in range(1, 10_000):
        path = runs_dir / (f"{stamp}_{safe}" + (f"-{n}" if n > 1 else ""))
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"cannot find a free run folder name under {runs_dir}")


def write_config(run_dir: Path, resolved: dict) -> None:
    import yaml  # here, not at the top: `runs` and `plot` never write a config

    atomic.write_text(run_dir / CONFIG, yaml.safe_dump(resolved, sort_keys=False))


def history_columns(metrics: Sequence[str]) -> list[str]:
    """The columns of `history.csv`: epoch, the losses and metrics, learning rate, seconds."""
    cols = ["epoch", "loss", "val_loss"]
    for m in metrics:
        cols += [m, f"val_{m}"]
    return [*cols, "lr", "seconds"]


def history_text(columns: Sequence[str], rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _fmt(row.get(k)) for k in columns})
    return buf.getvalue()


def write_history(run_dir: Path, columns: Sequence[str], rows: Sequence[dict]) -> None:
    atomic.write_text(run_dir / HISTORY, history_text(columns, rows))


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest exact round-trip
    return str(value)


def read_history(run_dir: Path) -> dict[str, list[float]]:
    """`history.csv` as columns of floats (NaN where a cell is empty or unparseable)."""
    with open(run_dir / HISTORY, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    out: dict[str, list[float]] = {k: [] for k in rows[0] if k}
    for row in rows:
        for k in out:
            try:
                out[k].append(float(row.get(k) or "nan"))
            except ValueError:
                out[k].append(math.nan)
    return out


@dataclass
class RunInfo:
    """What `cnnrun runs` shows of one folder; never raises on a broken folder.

    `status` is the summary's (`running`, `completed`, `failed`, `interrupted`), or
    `incomplete` (a folder cnnrun started but has no summary), `corrupt` (an unreadable
    summary), `sweep` or `search` (a folder of runs: `cnnrun runs` on it lists them) or
    `not a run`.
    """

    path: Path
    status: str
    name: str = ""
    started: str = ""
    epochs_run: int | None = None
    epochs_planned: int | None = None
    best_epoch: int | None = None
    monitor: str = ""
    best_value: float | None = None
    test: dict = field(default_factory=dict)
    verdict: str = ""
    duration_s: float | None = None
    problem: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def read_run(path: Path) -> RunInfo:
    """Summarise a run folder, whatever state it is in."""
    if not (path / SUMMARY).is_file():
        for marker, kind, what in ((SWEEP, "sweep", "runs"), (SEARCH, "search", "trials")):
            if (path / marker).is_file():
                return RunInfo(
                    path, kind, name=path.name, problem=f"cnnrun runs on it lists its {what}"
                )
        if (path / CONFIG).is_file() or (path / HISTORY).is_file():
            return RunInfo(path, "incomplete", name=path.name, problem="no summary.json")
        return RunInfo(path, "not a run", name=path.name)
    try:
        s = read_summary(path)
    except (OSError, ValueError) as e:
        return RunInfo(path, "corrupt", name=path.name, problem=f"{type(e).__name__}: {e}")
    return RunInfo(
        path,
        s.status,
        name=s.name or path.name,
        started=s.started or "",
        epochs_run=s.epochs_run,
        epochs_planned=s.epochs_planned,
        best_epoch=s.best_epoch,
        monitor=s.monitor,
        best_value=s.best_value,
        test=dict(s.test),
        verdict=s.verdict,
        duration_s=s.timings.fit_s,
    )


# Sort keys besides the default, "started" (newest first); the bool: larger first.
RUN_SORTS = {
    "name": (lambda r: r.name, False),
    "best": (lambda r: r.best_value if r.best_value is not None else float("inf"), False),
    "test": (
        lambda r: next((v for k, v in r.test.items() if "loss" not in k), float("-inf")),
        True,
    ),
    "duration": (lambda r: r.duration_s or 0.0, True),
}


def runs_table(
    runs_dir: Path, sort: str = "started", status: list[str] | None = None
) -> list[RunInfo]:
    """The runs of `cnnrun runs`: sorted by `sort`, only those of a `status` when given.

    Raises:
        UserError: an unknown sort key, or no such folder.
    """
    if sort != "started" and sort not in RUN_SORTS:
        choices = ", ".join(["started", *RUN_SORTS])
        raise UserError(Problem(f"expected one of {choices}, got {sort!r}", file="--sort"))
    if not runs_dir.is_dir():
        raise UserError(Problem("no such folder", file=str(runs_dir)))
    infos = [r for r in list_runs(runs_dir) if not status or r.status in status]
    if sort in RUN_SORTS:
        key, descending = RUN_SORTS[sort]
        infos.sort(key=key, reverse=descending)
    return infos


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Every sub-folder of `runs_dir` as a `RunInfo`, newest first (by start, then name)."""
    if not runs_dir.is_dir():
        return []
    infos = [read_run(p) for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    # Folders that are not runs go last; the others by start time (or the name's timestamp).
    return sorted(
        infos,
        key=lambda r: (r.status != "not a run", r.started or r.path.name[:19], r.path.name),
        reverse=True,
    )


def require_run(path: Path) -> Path:
    """`path` if it is a run folder, else a plain error (exit 2)."""
    require_dir(path, "a run folder")
    if not (path / HISTORY).is_file():
        raise UserError(Problem(f"is not a run folder (it has no {HISTORY})", file=str(path)))
    return path
