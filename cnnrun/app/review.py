"""`cnnrun plot`, `runs`, `compare` and `report`: reading run folders, without TensorFlow.

Example:
    ```python
    plot(["runs/2026-12-01T21-45-37_digits"])  # its curves/*.png, drawn again
    report("runs/2026-12-01T21-45-37_digits")  # .../report.html
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cnnrun.analysis.compare import Comparison, compare_runs
from cnnrun.analysis.curves import draw_overlay, draw_run
from cnnrun.analysis.report import write_report
from cnnrun.errors import Problem, UserError
from cnnrun.runs.folder import RunInfo, require_run, runs_table


def plot(
    run_dirs: Sequence[str | Path],
    *,
    output: str | Path | None = None,
    metric: Sequence[str] | None = None,
    smooth: float = 0.0,
    log_y: bool = False,
) -> list[Path]:
    """One run's curves drawn again into its folder, or several runs in one overlay figure.

    Args:
        run_dirs: run folders.
        output: the overlay's file (.png, .svg or .pdf); with one run, an overlay of it.
        metric: only these metrics (default: every one).
        smooth: an exponential moving average's weight, 0 for none.
        log_y: a logarithmic y axis.

    Returns:
        The files written.

    Raises:
        UserError: a folder that is not a run, or an output that is not .png, .svg or .pdf.
    """
    runs = [require_run(Path(d)) for d in run_dirs]
    target = Path(output) if output is not None else None
    if target is not None and target.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UserError(Problem("expected a .png, .svg or .pdf file", file=str(target)))
    if len(runs) == 1 and target is None:
        return draw_run(runs[0])
    stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    target = target or runs[0].parent / f"overlay_{stamp}.png"
    return [draw_overlay(runs, target, metric, smooth, log_y)]


def runs(
    runs_dir: str | Path = "runs", *, sort: str = "started", status: Sequence[str] | None = None
) -> list[RunInfo]:
    """The run folders in `runs_dir`, newest first or by `sort` (name, best, test, duration),
    only those of a `status` when given; a broken folder is listed as such, never raised."""
    return runs_table(Path(runs_dir), sort, list(status) if status else None)


def compare(
    run_a: str | Path,
    run_b: str | Path,
    *,
    metric: str | None = None,
    tolerance: float | None = None,
    output: str | Path | None = None,
) -> Comparison:
    """Run B against run A: the config keys that differ, the metrics, an overlay figure; with
    `tolerance`, `regression` says whether B is worse than A on `metric` by more."""
    a, b = require_run(Path(run_a)), require_run(Path(run_b))
    return compare_runs(a, b, metric, tolerance, Path(output) if output else None)


def report(run_dir: str | Path, *, output: str | Path | None = None) -> Path:
    """One self-contained HTML report of a run (default `RUN_DIR/report.html`)."""
    return write_report(require_run(Path(run_dir)), Path(output) if output else None)
