"""How training looks: a rich progress bar at a terminal, one plain line per epoch elsewhere."""

from __future__ import annotations

import math
from typing import Any

from rich.markup import escape

ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


def format_metrics(row: dict[str, Any]) -> str:
    """`loss 0.4123  accuracy 0.8812  val_loss ...` in a stable order."""
    keys = [k for k in ORDER if k in row]
    keys += sorted(k for k in row if k not in keys and k not in ("epoch", "lr", "seconds"))
    parts = []
    for k in keys:
        v = row[k]
        parts.append(f"{k} {v:.4f}" if isinstance(v, float) and math.isfinite(v) else f"{k} {v}")
    return "  ".join(parts)


class NullReporter:
    """Shows nothing (for --json)."""

    def warn(self, problems: list[Any]) -> None:
        pass

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        pass

    def batch(self, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, row: dict[str, float], improved: bool) -> None:
        pass

    def end(self) -> None:
        pass

    def note(self, message: str) -> None:
        pass


class QuietReporter(NullReporter):
    """Only warnings, on stderr (for --quiet)."""

    def __init__(self, err: Any) -> None:
        self.err = err

    def warn(self, problems: list[Any]) -> None:
        from cnnrun.cli.common import print_problems

        print_problems(problems, self.err)


class PlainReporter(QuietReporter):
    """Exactly one line per epoch, for CI logs and pipes."""

    def __init__(self, out: Any, err: Any) -> None:
        super().__init__(err)
        self.out = out
        self.epochs = 0

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs = epochs

    def note(self, message: str) -> None:
        self.out.print(message, markup=False)

    def epoch(self, row: dict[str, float], improved: bool) -> None:
        mark = "  * best" if improved else ""
        self.out.print(
            f"epoch {int(row['epoch'])}/{self.epochs}  {format_metrics(row)}  "
            f"lr {row['lr']:.3g}  {row['seconds']:.1f}s{mark}",
            markup=False,
        )


class RichReporter(PlainReporter):
    """A progress bar over each epoch's batches with live metrics; the epoch line stays."""

    def __init__(self, out: Any, err: Any) -> None:
        super().__init__(out, err)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=out,
            transient=True,
        )
        self.task: Any = None
        self.current = 1

    def start(self, epochs: int, steps_per_epoch: int) -> None:
        super().start(epochs, steps_per_epoch)
        self.progress.start()
        self.task = self.progress.add_task(f"epoch 1/{epochs}", total=steps_per_epoch, metrics="")

    def batch(self, step: int, logs: dict[str, float]) -> None:
        shown = {k: float(v) for k, v in logs.items() if k in ORDER}
        self.progress.update(self.task, completed=step, metrics=format_metrics(shown))

    def epoch(self, row: dict[str, float], improved: bool) -> None:
        mark = "  [green]* best[/]" if improved else ""
        line = escape(f"epoch {int(row['epoch'])}/{self.epochs}  {format_metrics(row)}  ")
        self.progress.console.print(
            f"{line}lr {row['lr']:.3g}  {row['seconds']:.1f}s{mark}", highlight=False
        )
        self.current = int(row["epoch"]) + 1
        if self.current > self.epochs:
            return
        self.progress.reset(
            self.task, description=f"epoch {self.current}/{self.epochs}", metrics=""
        )

    def end(self) -> None:
        self.progress.stop()


def reporter_for(json_: bool, quiet: bool, out: Any, err: Any) -> NullReporter:
    """The reporter a command's output options ask for."""
    if json_:
        return NullReporter()
    if quiet:
        return QuietReporter(err)
    return RichReporter(out, err) if out.is_terminal else PlainReporter(out, err)
