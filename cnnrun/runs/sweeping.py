"""Running a sweep: check every variant, run what is left, collect the results.

`sweep` is what `cnnrun sweep` calls. Every variant's config is checked before anything runs
(exit 2); each run is an ordinary `cnnrun train` in a child process (`cnnrun.runs.launch`),
resumed where an earlier attempt left it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cnnrun.config.load import load_config
from cnnrun.config.plan import make_plan
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import folder as runs
from cnnrun.runs import launch, sweep
from cnnrun.runs.sweep_results import collect, histories

FIGURE = "sweep_curves.png"


@dataclass
class SweepRequest:
    """What `cnnrun sweep` was asked for (see its `--help`)."""

    config: Path | None = None
    grid: list[str] = field(default_factory=list)
    seeds: int | None = None
    jobs: int = 1
    sets: list[str] = field(default_factory=list)
    runs_dir: Path = Path("runs")
    name: str | None = None
    print_commands: bool = False
    resume: Path | None = None
    collect: Path | None = None


@dataclass
class SweepOutcome:
    code: int
    sweep_dir: Path
    results: dict = field(default_factory=dict)
    figure: Path | None = None
    complete: bool = True
    commands: list[str] = field(default_factory=list)


def plan_runs(config: Path, sets: list[str], grid: list[str], seeds: int | None) -> list:
    """Expand the sweep and check every variant's config before anything runs (exit 2)."""
    loaded = load_config(config, sets)
    section = loaded.config.sweep
    full_grid = {**(section.grid if section else {}), **sweep.parse_grid(grid)}
    variants = section.variants if section else {}
    n = seeds or (section.seeds if section else 1)
    planned = sweep.expand(loaded.config.seed, full_grid, variants, n)
    problems, seen = [], set()
    for run in planned:
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
    # the user's own --set apply to every run, before the variant's
    return [replace(r, sets=(*sets, *r.sets)) for r in planned]


def _open(req: SweepRequest) -> tuple[Path, sweep.SweepPlan]:
    """The sweep folder and its plan: a new one, or the one to resume or collect."""
    if sum(x is not None for x in (req.config, req.resume, req.collect)) != 1:
        raise UserError(
            Problem("give exactly one of CONFIG, --resume SWEEP_DIR or --collect SWEEP_DIR")
        )
    if req.config is None:
        sweep_dir = Path(req.collect or req.resume)  # type: ignore[arg-type]
        plan = sweep.read_plan(sweep_dir)
        cfg_path = Path(plan.config)
        changed = not cfg_path.is_file() or sweep.file_sha256(cfg_path) != plan.config_sha256
        if req.resume is not None and changed:
            raise UserError(
                Problem(
                    f"the sweep's config {cfg_path} is missing or changed since the sweep "
                    "started; its runs would not be one experiment",
                    file=str(sweep_dir),
                    hint="restore the config, or start a new sweep",
                )
            )
        return sweep_dir, plan
    require_dir_or_new(req.runs_dir, "a folder for the sweep folder (--runs-dir)")
    planned = plan_runs(req.config, req.sets, req.grid, req.seeds)
    sweep_dir = runs.create_run_dir(req.runs_dir, f"sweep-{req.name or req.config.stem}")
    plan = sweep.new_plan(req.config.resolve(), planned)
    sweep.write_plan(sweep_dir, plan)
    return sweep_dir, plan


def pending_jobs(sweep_dir: Path, plan: sweep.SweepPlan) -> list[launch.Job]:
    """A child process for every run not yet completed: resumed if it started, else new."""
    found = sweep.find_runs(sweep_dir)
    jobs = []
    for run in plan.runs:
        run_dir, summary = found.get(run.name, (None, None))
        if summary is not None and summary.status == "completed":
            continue
        if run_dir is not None:
            cmd = ["cnnrun", "train", "--resume", str(run_dir)]
        else:
            cmd = sweep.train_command(plan.config, sweep_dir, run)
        argv = [sys.executable, "-m", "cnnrun", *cmd[1:]]
        jobs.append(launch.Job(run.name, argv, sweep_dir / sweep.LOGS / f"{run.name}.log"))
    return jobs


def _run_line(sweep_dir: Path, job: launch.Job, code: int, seconds: float, done: str) -> str:
    _, summary = sweep.find_runs(sweep_dir, only=job.name).get(job.name, (None, None))
    status, detail = "not started", ""
    if summary is not None:
        status = summary.status
        if summary.best_value is not None:
            detail = f": best {summary.monitor} {summary.best_value:.4f}"
        if summary.test.get("test_accuracy") is not None:
            detail += f", test_accuracy {summary.test['test_accuracy']:.4f}"
    return f"[{done}] {job.name} {status} in {seconds:.0f} s{detail} (exit {code}, log {job.log})"


def execute(
    sweep_dir: Path, plan: sweep.SweepPlan, jobs: int, say: Callable[[str], None]
) -> tuple[bool, int]:
    """Run every run not yet completed; (finished without interruption, failures)."""
    todo = pending_jobs(sweep_dir, plan)
    total = len(plan.runs)
    say(
        f"{len(todo)} of {total} runs to do ({total - len(todo)} already completed), {jobs} at once"
    )
    counter = {"done": total - len(todo), "failed": 0}

    def finished(job: launch.Job, code: int, seconds: float) -> None:
        counter["done"] += code == 0
        counter["failed"] += code not in (0, EXIT_INTERRUPTED)
        say(_run_line(sweep_dir, job, code, seconds, f"{counter['done']}/{total}"))

    complete = launch.run_jobs(todo, jobs, lambda job: say(f"started {job.name}"), finished)
    return complete, counter["failed"]


def run_sweep(req: SweepRequest, say: Callable[[str], None]) -> SweepOutcome:
    """Plan (or reopen) a sweep, run what is left, and collect its table and figure."""
    from cnnrun.runs.curves import draw_bands

    sweep_dir, plan = _open(req)
    if req.print_commands and req.config is not None:
        lines = [shlex.join(sweep.train_command(str(req.config), sweep_dir, r)) for r in plan.runs]
        lines.append(f"# then: cnnrun sweep --collect {shlex.quote(str(sweep_dir))}")
        return SweepOutcome(EXIT_OK, sweep_dir, commands=lines)
    if req.config is not None:
        say(f"sweep folder: {sweep_dir}")
    complete, failed = True, 0
    if req.collect is None:
        complete, failed = execute(sweep_dir, plan, req.jobs, say)
    plan.results = collect(sweep_dir, plan)
    sweep.write_plan(sweep_dir, plan)
    groups = histories(sweep_dir, plan.results)
    figure = draw_bands(groups, sweep_dir / FIGURE, sweep_dir.name) if groups else None
    done = plan.results["status"].get("completed", 0)
    if not complete:
        code = EXIT_INTERRUPTED
    elif req.collect is not None:
        code = EXIT_OK if done else EXIT_FAILED
    else:
        code = EXIT_FAILED if failed or done < len(plan.runs) else EXIT_OK
    return SweepOutcome(code, sweep_dir, plan.results, figure, complete)
