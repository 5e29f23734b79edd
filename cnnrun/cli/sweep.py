"""`cnnrun sweep`: variants x seeds; `--print-commands`, `--resume`, `--collect`."""

from __future__ import annotations

import math
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli import app
from cnnrun.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    DebugOpt,
    JsonOpt,
    QuietOpt,
    SetOpt,
    consoles,
    emit_json,
    guard,
)
from cnnrun.errors import Problem, UserError

FIGURE = "sweep_curves.png"


def _plan_runs(config: Path, sets: list[str], grid: list[str], seeds: int | None) -> list:
    """Expand the sweep and check every variant's config before anything runs (exit 2)."""
    from cnnrun.config.load import load_config
    from cnnrun.config.plan import make_plan
    from cnnrun.runs import sweep

    loaded = load_config(config, sets)
    section = loaded.config.sweep
    full_grid = {**(section.grid if section else {}), **sweep.parse_grid(grid)}
    variants = section.variants if section else {}
    n = seeds or (section.seeds if section else 1)
    sweep_runs = sweep.expand(loaded.config.seed, full_grid, variants, n)
    seen: set[str] = set()
    problems = []
    for run in sweep_runs:
        if run.variant in seen:
            continue
        seen.add(run.variant)
        try:
            make_plan(load_config(config, [*sets, *run.sets]))
        except UserError as e:
            problems += [
                replace(p, message=f"variant {run.variant}: {p.message}") for p in e.problems
            ]
    if problems:
        raise UserError(problems)
    return sweep_runs


def _execute(sweep_dir: Path, plan: Any, jobs: int, out: Any, quiet: bool) -> tuple[bool, int]:
    """Run every run not yet completed (resuming the interrupted ones); (finished, failures)."""
    from cnnrun.runs import launch, sweep

    found = sweep.find_runs(sweep_dir)
    todo = []
    for run in plan.runs:
        run_dir, summary = found.get(run.name, (None, {}))
        if summary.get("status") == "completed":
            continue
        if run_dir is not None:
            cmd = ["cnnrun", "train", "--resume", str(run_dir)]
        else:
            cmd = sweep.train_command(plan.config, sweep_dir, run)
        argv = [sys.executable, "-m", "cnnrun", *cmd[1:]]
        todo.append(launch.Job(run.name, argv, sweep_dir / sweep.LOGS / f"{run.name}.log"))
    done_before = len(plan.runs) - len(todo)
    if not quiet:
        out.print(
            f"{len(todo)} of {len(plan.runs)} runs to do ({done_before} already completed), "
            f"{jobs} at a time",
            markup=False,
        )
    counter = {"done": done_before, "failed": 0}

    def started(job: Any) -> None:
        if not quiet:
            out.print(f"started {job.name}", markup=False)

    def finished(job: Any, code: int, seconds: float) -> None:
        counter["done"] += code == 0
        counter["failed"] += code not in (0, EXIT_INTERRUPTED)
        if quiet:
            return
        _, summary = sweep.find_runs(sweep_dir, only=job.name).get(job.name, (None, {}))
        status = summary.get("status", "not started")
        detail = ""
        if summary.get("best_value") is not None:
            detail = f": best {summary['monitor']} {summary['best_value']:.4f}"
        if (summary.get("test") or {}).get("test_accuracy") is not None:
            detail += f", test_accuracy {summary['test']['test_accuracy']:.4f}"
        out.print(
            f"[{counter['done']}/{len(plan.runs)}] {job.name} {status} in {seconds:.0f} s"
            f"{detail} (exit {code}, log {job.log})",
            markup=False,
        )

    complete = launch.run_jobs(todo, jobs, started, finished)
    return complete, counter["failed"]


def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None or not math.isfinite(mean):
        return "-"
    return f"{mean:.4f} ± {std:.4f}" if std is not None and math.isfinite(std) else f"{mean:.4f}"


def _show(results: dict, figure: Path | None, out: Any) -> None:
    from rich import box
    from rich.table import Table

    variants = results.get("variants", [])
    monitor = next((v["monitor"] for v in variants if v["monitor"]), "best")
    score = results.get("score") or "score"
    table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
    for col in ("variant", "seeds", f"best {monitor}", score, "verdicts"):
        table.add_column(col, justify="right" if col == "seeds" else "left")
    for v in variants:
        verdicts = ", ".join(f"{k} x{n}" for k, n in sorted(v["verdicts"].items()))
        table.add_row(
            v["variant"],
            f"{v['seeds_done']}/{v['seeds_planned']}",
            _fmt(v["best_mean"], v["best_std"]),
            _fmt(v["score_mean"], v["score_std"]),
            verdicts or "-",
        )
    out.print(table)
    out.print(f"mean ± std over seeds; significance: {results['test']}", markup=False)
    comparisons = [c for c in results.get("comparisons", []) if c["p"] is not None]
    sig = [c for c in comparisons if c["significant"]]
    # Shown apart: below 0.05 on its own, but not once corrected for the number of pairs.
    hint = [c for c in comparisons if not c["significant"] and c["p"] < 0.05]
    if not comparisons:
        out.print("no comparison: it takes two variants with 2 or more seeds each", markup=False)
    elif not sig:
        out.print(
            f"no two variants differ by more than the seed noise ({len(comparisons)} pairs)",
            markup=False,
        )
    for title, group in (
        ("differ by more than the seed noise:", sig),
        (
            f"p < 0.05 before, not after, the correction for {len(comparisons)} pairs "
            "(more seeds would tell):",
            hint,
        ),
    ):
        if group:
            out.print(title, markup=False)
        for c in group:
            better, worse = (c["a"], c["b"]) if c["difference"] > 0 else (c["b"], c["a"])
            out.print(
                f"  {better} > {worse} on {score} by {abs(c['difference']):.4f} (p = {c['p']:.2g})",
                markup=False,
            )
    if figure:
        out.print(f"curves: {figure}", markup=False)


def _finish(sweep_dir: Path, plan: Any) -> tuple[dict, Path | None]:
    """Collect results into sweep.json and draw the mean-and-band curves."""
    from cnnrun.runs import sweep
    from cnnrun.runs.curves import draw_bands

    plan.results = sweep.collect(sweep_dir, plan)
    sweep.write_plan(sweep_dir, plan)
    groups = sweep.histories(sweep_dir, plan.results)
    figure = draw_bands(groups, sweep_dir / FIGURE, sweep_dir.name) if groups else None
    return plan.results, figure


@app.command()
def sweep(
    config: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="The experiment's YAML config.", show_default=False),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=V1,V2",
            help="Sweep KEY over these values (repeatable: every combination).",
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Runs per variant (default: sweep.seeds or 1)."),
    ] = None,
    jobs: Annotated[
        int, typer.Option(min=1, metavar="J", help="Runs at once, each with cores/J threads.")
    ] = 1,
    set_: SetOpt = None,
    runs_dir: Annotated[
        Path, typer.Option(metavar="DIR", help="Where the sweep folder is made.")
    ] = Path("runs"),
    name: Annotated[str | None, typer.Option(metavar="NAME", help="Sweep name.")] = None,
    print_commands: Annotated[
        bool,
        typer.Option(
            "--print-commands",
            help="Make the sweep folder and print one `cnnrun train` line per run; run none.",
        ),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(metavar="SWEEP_DIR", help="Finish this sweep: only the runs not completed."),
    ] = None,
    collect: Annotated[
        Path | None,
        typer.Option(metavar="SWEEP_DIR", help="Gather this sweep's finished runs: table, figure."),
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train every variant of a config at several seeds and compare them over the seed noise."""

    def body() -> int:
        from cnnrun.runs import folder as runs
        from cnnrun.runs import sweep

        out, _ = consoles()
        modes = sum(x is not None for x in (config, resume, collect))
        if modes != 1:
            raise UserError(
                Problem("give exactly one of CONFIG, --resume SWEEP_DIR or --collect SWEEP_DIR")
            )
        if collect is not None or resume is not None:
            sweep_dir = Path(collect or resume)  # type: ignore[arg-type]
            plan = sweep.read_plan(sweep_dir)
            if resume is not None:
                cfg_path = Path(plan.config)
                if not cfg_path.is_file() or sweep.file_sha256(cfg_path) != plan.config_sha256:
                    raise UserError(
                        Problem(
                            f"the sweep's config {cfg_path} is missing or changed since the "
                            "sweep started; its runs would not be one experiment",
                            file=str(sweep_dir),
                            hint="restore the config, or start a new sweep",
                        )
                    )
        else:
            assert config is not None
            sweep_runs = _plan_runs(config, list(set_ or []), list(grid or []), seeds)
            # the user's own --set apply to every run, before the variant's
            sweep_runs = [replace(r, sets=(*(set_ or []), *r.sets)) for r in sweep_runs]
            label = name or config.stem
            sweep_dir = runs.create_run_dir(runs_dir, f"sweep-{label}")
            plan = sweep.new_plan(config.resolve(), sweep_runs)
            sweep.write_plan(sweep_dir, plan)
            if print_commands:
                for run in sweep_runs:
                    print(shlex.join(sweep.train_command(str(config), sweep_dir, run)))
                print(f"# then: cnnrun sweep --collect {shlex.quote(str(sweep_dir))}")
                return EXIT_OK
            if not quiet and not json_:
                out.print(f"sweep folder: {sweep_dir}", markup=False)
        complete, failed = True, 0
        if collect is None:
            complete, failed = _execute(sweep_dir, plan, jobs, out, quiet or json_)
        results, figure = _finish(sweep_dir, plan)
        if json_:
            emit_json(
                {
                    "sweep_dir": str(sweep_dir),
                    "complete": complete,
                    "figure": str(figure) if figure else None,
                    **results,
                }
            )
        elif not quiet:
            _show(results, figure, out)
        if not complete:
            if not quiet:
                out.print(
                    f"interrupted; finish it with: cnnrun sweep --resume {sweep_dir}",
                    markup=False,
                )
            return EXIT_INTERRUPTED
        if collect is not None:
            return EXIT_OK if results["status"].get("completed") else EXIT_FAILED
        return (
            EXIT_FAILED
            if failed or results["status"].get("completed", 0) < len(plan.runs)
            else EXIT_OK
        )

    guard(debug, body)
