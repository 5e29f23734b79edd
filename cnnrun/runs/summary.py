"""`summary.json`, typed: the one place that reads and writes a run's summary.

Every other module uses the fields of `RunSummary`. Keys this version does not know (from a
newer cnnrun, say) are kept as they are, so reading and writing a summary loses nothing.

Example:
    >>> s = read_summary(Path("tests/fixtures/v0.1-run"))
    >>> s.status, s.best_epoch, s.data.counts["test"]
    ('completed', 2, 359)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cnnrun import atomic
from cnnrun.errors import Problem, UserError
from cnnrun.runs.names import SUMMARY

STATUSES = ("running", "completed", "interrupted", "failed", "pruned")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class DataSummary(_Open):
    """What a run trained on."""

    source: str = ""
    origin: str = ""
    fingerprint: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    class_names: list[str] = Field(default_factory=list)
    scale: float | None = None
    decode: dict[str, Any] | None = None  # image files: how they became pixels
    cache: dict[str, Any] | None = None  # image files: data.cache's choice and why
    fingerprint_kind: str | None = None  # "files" for a photo set's; absent: of the pixels
    skipped: list[dict[str, str]] = Field(default_factory=list)  # on_bad_image: skip


class Timings(_Open):
    """How long it took; `first_batch_done_unix` marks the end of start-up."""

    first_batch_done_unix: float | None = None
    fit_s: float | None = None
    mean_epoch_s: float | None = None
    median_epoch_s: float | None = None
    train_samples_per_s: float | None = None


class RunSummary(_Open):
    """What a run is and how it went; `status` is one of `STATUSES`."""

    name: str = ""
    run_dir: str | None = None
    status: str = "running"
    reason: str | None = None
    started: str | None = None
    finished: str | None = None
    epochs_planned: int | None = None
    epochs_run: int = 0
    monitor: str = "val_loss"
    mode: str = "min"
    best_epoch: int | None = None
    best_value: float | None = None
    best_metrics: dict[str, float] = Field(default_factory=dict)
    test: dict[str, float] = Field(default_factory=dict)
    test_scores: dict[str, Any] | None = None  # per-class precision, recall, F1; their means
    calibration: dict[str, Any] | None = None  # expected calibration error and its 10 bins
    errors: dict[str, Any] | None = None  # the most confidently wrong images' answers
    diagnosis: dict[str, Any] | None = None
    num_classes: int | None = None
    params: dict[str, int] = Field(default_factory=dict)
    seed: int | None = None
    deterministic: bool = False
    distribute: dict[str, Any] = Field(default_factory=dict)
    data: DataSummary = Field(default_factory=DataSummary)
    config_hash: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    worker: str | None = None
    batchnorm: dict[str, Any] | None = None
    precision: dict[str, str] | None = None
    phases: list[dict[str, Any]] | None = None  # train.phases: first epoch, settings
    tracking: dict[str, Any] | None = None  # {"mlflow": {run_id, tracking_uri, state, ...}}
    loss_floor: float = 0.0  # the lowest loss the targets allow (label smoothing)

    @property
    def verdict(self) -> str:
        return str((self.diagnosis or {}).get("verdict") or "")

    def scores(self) -> dict[str, float]:
        """The best epoch's metrics and the test scores, by name (for gates and compare)."""
        out = {k: v for k, v in self.best_metrics.items() if k not in ("epoch", "lr", "seconds")}
        out.update(self.test)
        return {k: float(v) for k, v in out.items() if isinstance(v, int | float)}

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def summary_text(summary: RunSummary) -> str:
    """The summary as JSON text (NaN is written as JSON's NaN, as Python's json does)."""
    return json.dumps(summary.model_dump(mode="python"), indent=2, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    return str(value)


def write_summary(run_dir: Path, summary: RunSummary) -> None:
    atomic.write_text(run_dir / SUMMARY, summary_text(summary))


def read_summary(run_dir: Path) -> RunSummary:
    """Read `summary.json`.

    Raises:
        OSError: it cannot be read.
        ValueError: it is not JSON, or not a summary.
    """
    try:
        data = json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{SUMMARY} is not JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{SUMMARY} is not a JSON object")
    try:
        return RunSummary.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ValueError(f"{SUMMARY}: {where}: {first['msg']}") from None


def require_summary(run_dir: Path) -> RunSummary:
    """`read_summary`, or a plain error naming the file and why it cannot be read."""
    try:
        return read_summary(run_dir)
    except (OSError, ValueError) as e:
        raise UserError(
            Problem(f"cannot read this run: {e}", file=str(run_dir / SUMMARY))
        ) from None
