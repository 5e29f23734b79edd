"""What a run tells the world as it goes: the `Reporter` a face shows it with, the `Observer`s
that follow it (a search's pruner, an MLflow tracker), and two plain reporters.

Example:
    >>> reporter = PrintReporter()
    >>> reporter.epoch({"epoch": 1, "loss": 0.5, "lr": 0.001, "seconds": 0.2}, improved=True)
    epoch 1  loss 0.5000  lr 0.001  0.2s  * best
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from cnnrun.errors import Problem
from cnnrun.runs.summary import RunSummary


class Reporter(Protocol):
    """What the face shows while a use case works; the engine knows nothing of terminals."""

    def warn(self, problems: Sequence[Problem]) -> None: ...
    def note(self, message: str) -> None: ...
    def start(self, epochs: int, steps_per_epoch: int) -> None: ...
    def batch(self, step: int, logs: dict[str, float]) -> None: ...
    def epoch(self, row: dict[str, float], improved: bool) -> None: ...
    def end(self) -> None: ...


class Observer(Protocol):
    """Something outside training that follows a run: a search's pruner, a tracker.

    `begin` sees the summary before the first epoch (and may add to it); `epoch` sees each
    finished epoch's row and returns True to stop the run here as `pruned`.
    """

    def begin(self, summary: RunSummary) -> None: ...
    def epoch(self, row: dict[str, float]) -> bool: ...


ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


def format_metrics(row: dict[str, Any]) -> str:
    """`loss 0.4123  accuracy 0.8812  val_loss ...` in a stable order.

    Example:
        >>> format_metrics({"val_loss": 0.25, "loss": 0.5, "epoch": 3})
        'loss 0.5000  val_loss 0.2500'
    """
    keys = [k for k in ORDER if k in row]
    keys += sorted(k for k in row if k not in keys and k not in ("epoch", "lr", "seconds"))
    parts = []
    for k in keys:
        v = row[k]
        parts.append(f"{k} {v:.4f}" if isinstance(v, float) and math.isfinite(v) else f"{k} {v}")
    return "  ".join(parts)


def epoch_line(row: dict[str, float], epochs: int | None) -> str:
    """One finished epoch as a line: its number, metrics, learning rate and seconds."""
    of = f"/{epochs}" if epochs else ""
    return (
        f"epoch {int(row['epoch'])}{of}  {format_metrics(row)}  lr {row['lr']:.3g}  "
        f"{row['seconds']:.1f}s"
    )


class NullReporter:
    """Shows nothing."""

    def warn(self, problems: Sequence[Problem]) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        pass

    def batch(self, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, row: dict[str, float], improved: bool) -> None:
        pass

    def end(self) -> None:
        pass


class PrintReporter(NullReporter):
    """Plain lines, as a notebook or a script wants them: notes and one line per epoch on
    stdout, warnings on stderr (the Python API's default)."""

    def __init__(self) -> None:
        self.epochs: int | None = None

    def warn(self, problems: Sequence[Problem]) -> None:
        for p in problems:
            print(f"{'warning' if p.warning else 'error'}: {p.format()}", file=sys.stderr)

    def note(self, message: str) -> None:
        print(message)

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs = epochs

    def epoch(self, row: dict[str, float], improved: bool) -> None:
        print(epoch_line(row, self.epochs) + ("  * best" if improved else ""))
