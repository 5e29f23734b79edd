"""How training looks: a rich progress bar at a terminal, one plain line per epoch elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.markup import escape

from cnnrun.errors import Problem
from cnnrun.runs.events import ORDER, NullReporter, epoch_line, format_metrics


class QuietReporter(NullReporter):
    """Only warnings, on stderr (for --quiet)."""

    def __init__(self, err: Any) -> None:
        self.err = err

    def warn(self, problems: Sequence[Problem]) -> None:
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
        self.out.print(epoch_line(row, self.epochs) + mark, markup=False)


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
        self.progress.console.print(escape(epoch_line(row, self.epochs)) + mark, highlight=False)
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


def for_workers(json_: bool, quiet: bool) -> tuple[Any, NullReporter, Callable[[str], None]]:
    """What a sweep or search shows: the stdout console, a reporter of each run's warnings
    (not its epochs), and `say` for its own progress lines (silent with --json or --quiet)."""
    from cnnrun.cli.common import consoles

    out, err = consoles()

    def say(line: str) -> None:
        if not (json_ or quiet):
            out.print(line, markup=False)

    return out, reporter_for(False, True, out, err), say


def unfinished(outcome: Any, quiet: bool, out: Any, how: str) -> None:
    """The line that says how to finish an interrupted sweep or search."""
    if not outcome.complete and not quiet:
        out.print(f"interrupted; {how}", markup=False)
