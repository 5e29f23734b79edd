"""Run folders: unique creation, atomic writes, and reading back history and summary.

A run folder holds `config.yaml`, `summary.json`, `history.csv`, `best.weights.h5`,
`last.weights.h5` and `curves/`. Every file is written to a temporary file in the same folder
and moved into place with `os.replace`, so a crash leaves the old file or the new, never half.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

CONFIG, SUMMARY, HISTORY = "config.yaml", "summary.json", "history.csv"
SWEEP = "sweep.json"  # marks a sweep folder, which holds runs rather than being one
BEST, LAST, CURVES = "best.weights.h5", "last.weights.h5", "curves"


@contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success fsync it and move it onto `path`."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_file(path) as f:
        f.write(text)


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

    atomic_write_text(run_dir / CONFIG, yaml.safe_dump(resolved, sort_keys=False))


def summary_text(summary: dict) -> str:
    return json.dumps(summary, indent=2, default=_json_default)


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write_text(run_dir / SUMMARY, summary_text(summary))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    return str(value)


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))


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
    atomic_write_text(run_dir / HISTORY, history_text(columns, rows))


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
    summary), `sweep` (a sweep folder: `cnnrun runs` on it lists its runs) or `not a run`.
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
        if (path / SWEEP).is_file():
            return RunInfo(
                path, "sweep", name=path.name, problem="cnnrun runs on it lists its runs"
            )
        if (path / CONFIG).is_file() or (path / HISTORY).is_file():
            return RunInfo(path, "incomplete", name=path.name, problem="no summary.json")
        return RunInfo(path, "not a run", name=path.name)
    try:
        s = read_summary(path)
        if not isinstance(s, dict):
            raise ValueError("summary.json is not a JSON object")
        timings = s.get("timings") or {}
        diagnosis = s.get("diagnosis") or {}
        return RunInfo(
            path,
            str(s.get("status", "unknown")),
            name=str(s.get("name") or path.name),
            started=str(s.get("started") or ""),
            epochs_run=s.get("epochs_run"),
            epochs_planned=s.get("epochs_planned"),
            best_epoch=s.get("best_epoch"),
            monitor=str(s.get("monitor") or ""),
            best_value=s.get("best_value"),
            test=dict(s.get("test") or {}),
            verdict=str(diagnosis.get("verdict") or ""),
            duration_s=timings.get("fit_s"),
        )
    except (OSError, ValueError, TypeError, AttributeError) as e:
        return RunInfo(path, "corrupt", name=path.name, problem=f"{type(e).__name__}: {e}")


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
