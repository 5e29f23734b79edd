"""`cnnrun plot`, `runs`, `compare` and `report`: reading runs, without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnrun.cli import app
from cnnrun.cli.common import (
    DebugOpt,
    JsonOpt,
    QuietOpt,
    consoles,
    emit_json,
    existing_run,
    guard,
)
from cnnrun.errors import EXIT_FAILED, EXIT_OK, Problem, UserError


@app.command()
def plot(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR", help="One run folder, or several to compare."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Overlay file (.png, .svg or .pdf)."),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Only these metrics (repeatable).")
    ] = None,
    smooth: Annotated[
        float, typer.Option(min=0.0, max=0.99, metavar="W", help="EMA weight, 0 = off.")
    ] = 0.0,
    log_y: Annotated[bool, typer.Option(help="Logarithmic y axis.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Redraw one run's curves into its folder, or overlay several runs in one figure."""

    def body() -> int:
        from datetime import datetime

        from cnnrun.runs import curves

        out, _ = consoles()
        dirs = [existing_run(d) for d in run_dirs]
        if output is not None and output.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise UserError(Problem("expected a .png, .svg or .pdf file", file=str(output)))
        if len(dirs) == 1 and output is None:
            written = curves.draw_run(dirs[0])
        else:
            stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
            target = output or dirs[0].parent / f"overlay_{stamp}.png"
            written = [curves.draw_overlay(dirs, target, metric, smooth, log_y)]
        if json_:
            emit_json({"written": [str(p) for p in written]})
        elif not quiet:
            for p in written:
                out.print(f"wrote {p}", markup=False)
        return EXIT_OK

    guard(debug, body)


# Sort keys besides the default, "started" (newest first, as list_runs returns them); the
# bool says whether larger comes first.
RUN_SORTS = {
    "name": (lambda r: r.name, False),
    "best": (lambda r: r.best_value if r.best_value is not None else float("inf"), False),
    "test": (
        lambda r: next((v for k, v in r.test.items() if "loss" not in k), float("-inf")),
        True,
    ),
    "duration": (lambda r: r.duration_s or 0.0, True),
}


@app.command("runs")
def runs_(
    runs_dir: Annotated[
        Path, typer.Argument(metavar="RUNS_DIR", help="Folder of run folders.")
    ] = Path("runs"),
    sort: Annotated[
        str,
        typer.Option(metavar="KEY", help="started (newest first), name, best, test or duration."),
    ] = "started",
    status: Annotated[
        list[str] | None,
        typer.Option(metavar="STATUS", help="Only runs with this status (repeatable)."),
    ] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the runs in a folder: status, epochs, best epoch and value, test score, verdict."""

    def body() -> int:
        from rich import box
        from rich.table import Table

        from cnnrun.runs.folder import list_runs

        out, _ = consoles()
        if sort != "started" and sort not in RUN_SORTS:
            choices = ", ".join(["started", *RUN_SORTS])
            raise UserError(Problem(f"expected one of {choices}, got {sort!r}", file="--sort"))
        if not runs_dir.is_dir():
            raise UserError(Problem("no such folder", file=str(runs_dir)))
        infos = list_runs(runs_dir)
        if status:
            infos = [r for r in infos if r.status in status]
        if sort in RUN_SORTS:
            key, descending = RUN_SORTS[sort]
            infos.sort(key=key, reverse=descending)
        if json_:
            emit_json([r.as_dict() for r in infos])
            return EXIT_OK
        table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
        for col in (
            "run",
            "started",
            "status",
            "epochs",
            "best",
            "monitored",
            "test",
            "verdict",
            "time",
        ):
            table.add_column(col, justify="right" if col in ("epochs", "best", "time") else "left")
        colours = {
            "completed": "green",
            "failed": "red",
            "interrupted": "yellow",
            "running": "cyan",
        }
        for r in infos:
            epochs = f"{r.epochs_run}/{r.epochs_planned}" if r.epochs_planned else "-"
            monitored = f"{r.monitor} {r.best_value:.4f}" if r.best_value is not None else "-"
            test = (
                ", ".join(
                    f"{k.removeprefix('test_')} {v:.4f}"
                    for k, v in r.test.items()
                    if "loss" not in k
                )
                or "-"
            )
            st = f"[{colours[r.status]}]{r.status}[/]" if r.status in colours else r.status
            table.add_row(
                r.path.name,
                r.started.replace("T", " ") or "-",
                st,
                epochs,
                str(r.best_epoch or "-"),
                monitored,
                test,
                r.verdict or r.problem[:60] or "-",
                f"{r.duration_s:.0f}s" if r.duration_s is not None else "-",
            )
        out.print(table)
        out.print(f"{len(infos)} run folder(s) in {runs_dir}", markup=False)
        return EXIT_OK

    guard(debug, body)


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="The reference (golden) run.")],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="The run to check against it.")],
    metric: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Metric for --tolerance (default: A's monitor)."),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(min=0.0, metavar="X", help="Exit 1 when B is worse than A by more."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Overlay figure (.png/.svg/.pdf)."),
    ] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare two runs: config keys that differ, metrics side by side, an overlay figure."""

    def body() -> int:
        from datetime import datetime

        from rich import box
        from rich.table import Table

        from cnnrun.runs import compare as cmp
        from cnnrun.runs.curves import draw_overlay

        out, err = consoles()
        a_dir, b_dir = existing_run(run_a), existing_run(run_b)
        (cfg_a, sum_a), (cfg_b, sum_b) = cmp.load(a_dir), cmp.load(b_dir)
        diff = cmp.config_diff(cfg_a, cfg_b)
        sa, sb = sum_a.scores(), sum_b.scores()
        failure = ""
        if tolerance is not None:
            failure = cmp.regression(sa, sb, metric or sum_a.monitor, tolerance)
        stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
        target = output or a_dir.parent / f"compare_{stamp}.png"
        figure = draw_overlay([a_dir, b_dir], target)
        metrics = [
            {
                "metric": k,
                "a": sa.get(k),
                "b": sb.get(k),
                "b_minus_a": (sb[k] - sa[k]) if k in sa and k in sb else None,
            }
            for k in dict.fromkeys([*sa, *sb])
        ]
        if json_:
            emit_json(
                {
                    "a": str(a_dir),
                    "b": str(b_dir),
                    "config_diff": [{"path": p, "a": x, "b": y} for p, x, y in diff],
                    "metrics": metrics,
                    "figure": str(figure),
                    "regression": failure or None,
                }
            )
        else:
            style = box.SIMPLE_HEAD if out.is_terminal else None
            out.print(f"A: {a_dir}\nB: {b_dir}", markup=False)
            if diff:
                t = Table("config key", "A", "B", box=style, pad_edge=False)
                for p, x, y in diff:
                    t.add_row(p, "-" if x is None else str(x), "-" if y is None else str(y))
                out.print(t)
            else:
                out.print("configs: identical", markup=False)
            t = Table("metric", "A", "B", "B - A", box=style, pad_edge=False)
            for m in metrics:
                t.add_row(
                    m["metric"],
                    *("-" if m[k] is None else f"{m[k]:.4f}" for k in ("a", "b", "b_minus_a")),
                )
            out.print(t)
            out.print(f"overlay: {figure}", markup=False)
        if failure:
            err.print(f"regression: {failure}", markup=False)
            return EXIT_FAILED
        return EXIT_OK

    guard(debug, body)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="The run folder.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="HTML file (default RUN_DIR/report.html)."
        ),
    ] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write one self-contained HTML report of a run (images embedded; no network needed)."""

    def body() -> int:
        from cnnrun.runs.report import write_report

        out, _ = consoles()
        path = write_report(existing_run(run_dir), output)
        if not quiet:
            out.print(f"wrote {path}", markup=False)
        return EXIT_OK

    guard(debug, body)
