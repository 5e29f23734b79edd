"""What a trial keeps in the study, as user attributes, besides its parameters and value:
its run's summary, history and resolved config. A reader with the storage alone (no run
folder, another machine) gets the table, the curves and `best.yaml` from them.

Example:
    ```python
    keep(trial, run_dir)              # in the worker, once the run has ended
    summary_of(frozen).best_value     # in a reader
    ```
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cnnrun.runs import folder as runs
from cnnrun.runs.names import CONFIG
from cnnrun.runs.summary import RunSummary, read_summary

# one attribute, {"summary", "history", "config"}: one write to the storage, which on a
# database is one transaction (and on SQLite one fsync)
RECORD = "run"
SUMMARY, HISTORY, CONFIG_ATTR = "summary", "history", "config"
# the summary's fields a table, a comparison or a figure reads; the rest stays in the folder
KEPT = (
    "name",
    "run_dir",
    "status",
    "reason",
    "epochs_planned",
    "epochs_run",
    "monitor",
    "mode",
    "best_epoch",
    "best_value",
    "best_metrics",
    "test",
    "diagnosis",
    "seed",
    "worker",
    "timings",
)


def finite(value: Any) -> Any:
    """NaN and infinity as None, all through plain data: standard JSON, as a database's
    JSON column and `sweep.json` take it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def attrs_of(run_dir: Path) -> dict[str, Any]:
    """A run folder's summary, history and resolved config, as a trial keeps them: its
    user attributes `run_dir` and `run`."""
    import yaml

    try:
        summary = read_summary(run_dir).as_dict()
    except (OSError, ValueError):
        return {"run_dir": str(run_dir)}
    record: dict[str, Any] = {SUMMARY: finite({k: summary.get(k) for k in KEPT})}
    try:
        record[HISTORY] = finite(runs.read_history(run_dir))
        record[CONFIG_ATTR] = yaml.safe_load((run_dir / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        pass  # a run that failed before writing them
    return {"run_dir": str(run_dir), RECORD: record}


def keep(trial: Any, run_dir: Path) -> None:
    """Record a finished run's summary, history and resolved config on its trial (its run
    folder is already noted)."""
    record = attrs_of(run_dir).get(RECORD)
    if record is not None:
        trial.set_user_attr(RECORD, record)


def _kept(t: Any, key: str) -> Any:
    return (t.user_attrs.get(RECORD) or {}).get(key)


def _folder(t: Any) -> Path | None:
    run_dir = t.user_attrs.get("run_dir")
    return Path(run_dir) if run_dir and Path(run_dir).is_dir() else None


def summary_of(t: Any) -> RunSummary | None:
    """The run's summary: kept in the study, else read from its folder where it is here."""
    kept = _kept(t, SUMMARY)
    if kept is not None:
        return RunSummary.model_validate(kept)
    return in_folder(t)


def in_folder(t: Any) -> RunSummary | None:
    """The summary in the trial's run folder, where that folder is here."""
    where = _folder(t)
    try:
        return read_summary(where) if where is not None else None
    except (OSError, ValueError):
        return None


def history_of(t: Any) -> dict[str, list[float]]:
    """The run's history, columns of floats (NaN for a missing value)."""
    kept = _kept(t, HISTORY)
    if kept is not None:
        return {k: [math.nan if v is None else float(v) for v in col] for k, col in kept.items()}
    where = _folder(t)
    try:
        return runs.read_history(where) if where is not None else {}
    except (OSError, ValueError):
        return {}


def config_of(t: Any) -> dict | None:
    """The run's resolved config, as its `config.yaml` holds it."""
    import yaml

    kept = _kept(t, CONFIG_ATTR)
    if kept is not None:
        return dict(kept)
    where = _folder(t)
    try:
        return yaml.safe_load((where / CONFIG).read_text(encoding="utf-8")) if where else None
    except (OSError, yaml.YAMLError):
        return None
