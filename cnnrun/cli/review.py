"""`cnnrun plot`, `runs`, `compare` and `report`: reading runs, without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnrun.cli.common import (
    Output,
    OutputOpt,
    RunDirArg,
    complete_run_dir,
    consoles,
    emit_json,
    output_options,
)
from cnnrun.errors import EXIT_FAILED, EXIT_OK

RunDirsArg = Annotated[
    list[Path],
    typer.Argument(metavar="RUN_DIR...", help="Run folders.", autocompletion=complete_run_dir),
]
MetricsOpt = Annotated[
    list[str] | None, typer.Option("--metric", metavar="NAME", help="Only these (repeatable).")
]
SmoothOpt = Annotated[
    float, typer.Option(min=0.0, max=0.99, metavar="W", help="EMA weight, 0 = off.")
]
RunsDirArg = Annotated[
    Path,
    typer.Argument(
        metavar="RUNS_DIR", help="Folder of run folders.", autocompletion=complete_run_dir
    ),
]
SortOpt = Annotated[
    str, typer.Option(metavar="KEY", help="started (newest first), name, best, test or duration.")
]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option(metavar="STATUS", help="Only runs with this status (repeatable)."),
]


@output_options("json", "quiet", "debug")
def plot(
    opts: Output,
    run_dirs: RunDirsArg,
    output: OutputOpt = None,
    metric: MetricsOpt = None,
    smooth: SmoothOpt = 0.0,
    log_y: Annotated[bool, typer.Option(help="Logarithmic y axis.")] = False,
) -> int:
    """Redraw a run's curves, or overlay several runs.

    One folder: its curves/*.png are drawn again. Several, or -o FILE (.png, .svg, .pdf): one
    figure with a panel per metric and a colour per run.
    """
    from cnnrun.app.review import plot as plot_runs

    out, _ = consoles()
    written = plot_runs(**opts.args)
    if opts.json:
        emit_json({"written": [str(p) for p in written]})
    elif not opts.quiet:
        for p in written:
            out.print(f"wrote {p}", markup=False)
    return EXIT_OK


@output_options("json", "debug")
def runs_(
    opts: Output,
    runs_dir: RunsDirArg = Path("runs"),
    sort: SortOpt = "started",
    status: StatusOpt = None,
) -> int:
    """List the runs in a folder.

    Status, epochs, best epoch and value, test score, verdict and time of each run.
    """
    from cnnrun.app.review import runs as list_runs
    from cnnrun.cli.render import render_runs

    out, _ = consoles()
    infos = list_runs(**opts.args)
    if opts.json:
        emit_json([r.as_dict() for r in infos])
        return EXIT_OK
    render_runs(infos, out)
    out.print(f"{len(infos)} run folder(s) in {runs_dir}", markup=False)
    return EXIT_OK


@output_options("json", "debug")
def compare(
    opts: Output,
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="The reference run.")],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="The run to check against it.")],
    metric: Annotated[
        str | None, typer.Option(metavar="NAME", help="For --tolerance (default: A's monitor).")
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option(min=0.0, metavar="X", help="Exit 1 when B is worse by more.")
    ] = None,
    output: OutputOpt = None,
) -> int:
    """Compare two runs.

    The config keys that differ, the metrics side by side and an overlay figure;
    --tolerance turns it into a regression gate.
    """
    from cnnrun.app.review import compare as compare_runs
    from cnnrun.cli.render import render_comparison

    out, err = consoles()
    c = compare_runs(**opts.args)
    if opts.json:
        emit_json(c.as_dict())
    else:
        render_comparison(c, out)
    if c.regression:
        err.print(f"regression: {c.regression}", markup=False)
        return EXIT_FAILED
    return EXIT_OK


@output_options("quiet", "debug")
def report(
    opts: Output,
    run_dir: RunDirArg,
    output: OutputOpt = None,
) -> int:
    """Write one self-contained HTML report of a run.

    Verdict, scores, curves, confusion matrix, layer table and config, images embedded:
    it opens without a server or a network (default RUN_DIR/report.html).
    """
    from cnnrun.app.review import report as write_report

    out, _ = consoles()
    path = write_report(**opts.args)
    if not opts.quiet:
        out.print(f"wrote {path}", markup=False)
    return EXIT_OK
