"""Running a sweep: check every variant, run what is left, collect the results.

`run_sweep` is what `cnnrun sweep` calls. Every variant's config is checked before anything
runs (exit 2); each run is an ordinary run folder trained by a worker (`cnnrun.app.workers`):
this process with `--jobs 1`, else J child processes, and any `cnnrun sweep --join` elsewhere.
A worker takes the next run nobody holds, resumed where an earlier attempt left it.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cnnrun.app import workers as trials
from cnnrun.app.sweep import plan as sweep
from cnnrun.app.sweep.results import collect, histories
from cnnrun.app.train import TrainRequest
from cnnrun.config.load import load_config
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.paths import require_dir_or_new
from cnnrun.plan import make_plan
from cnnrun.runs import folder as runs

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
    join: Path | None = None


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
    given = (req.config, req.resume, req.collect, req.join)
    if sum(x is not None for x in given) != 1:
        raise UserError(
            Problem(
                "give exactly one of CONFIG, --resume SWEEP_DIR, --join SWEEP_DIR "
                "or --collect SWEEP_DIR"
            )
        )
    if req.config is None:
        sweep_dir = Path(req.collect or req.resume or req.join)  # type: ignore[arg-type]
        plan = sweep.read_plan(sweep_dir)
        cfg_path = Path(plan.config)
        changed = not cfg_path.is_file() or sweep.file_sha256(cfg_path) != plan.config_sha256
        if req.collect is None and changed:
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
    tracked = check_tracking(req.config, req.sets, req.runs_dir)
    sweep_dir = runs.create_run_dir(req.runs_dir, f"sweep-{req.name or req.config.stem}")
    plan = sweep.new_plan(req.config.resolve(), planned)
    if tracked:
        plan.mlflow = tracking_parent(req.config, req.sets, req.runs_dir, sweep_dir.name, "sweep")
    if plan.mlflow is not None:  # every run logs to the same store, as a child
        where = {k: plan.mlflow[k] for k in ("tracking_uri", "experiment")}
        line = sweep.set_line("logging.mlflow", where)
        plan.runs = [replace(r, sets=(*r.sets, line)) for r in plan.runs]
    sweep.write_plan(sweep_dir, plan)
    return sweep_dir, plan


def check_tracking(config: Path, sets: list[str], runs_dir: Path) -> bool:
    """Whether the config tracks its runs in MLflow; a store that cannot be reached is
    refused here (exit 2), before a sweep or search folder is made."""
    cfg = load_config(config, sets).config.logging.mlflow_config
    if cfg is None:
        return False
    from cnnrun.tracking.tracker import connect

    connect(cfg, runs_dir)
    return True


def tracking_parent(
    config: Path, sets: list[str], runs_dir: Path, name: str, kind: str
) -> dict | None:
    """The sweep's or search's own MLflow run when its config tracks runs; its runs become
    the children."""
    cfg = load_config(config, sets).config.logging.mlflow_config
    if cfg is None:
        return None
    from cnnrun.tracking.tracker import parent_run

    uri, run_id = parent_run(cfg, runs_dir, name, kind)
    return {"tracking_uri": uri, "run_id": run_id, "experiment": cfg.experiment}


def _request(sweep_dir: Path, plan: sweep.SweepPlan, run: sweep.SweepRun) -> TrainRequest | None:
    """How to train a run: resumed if it started, new if not, None if it is completed."""
    run_dir, summary = sweep.find_runs(sweep_dir, only=run.name).get(run.name, (None, None))
    if summary is not None and summary.status == "completed":
        return None
    parent = (plan.mlflow or {}).get("run_id")
    if run_dir is not None:
        return TrainRequest(resume=run_dir, tracking_parent=parent)
    return TrainRequest(Path(plan.config), list(run.sets), sweep_dir, run.name,
                        tracking_parent=parent)  # fmt: skip


def _run_line(sweep_dir: Path, name: str, seconds: float, done: str) -> str:
    _, summary = sweep.find_runs(sweep_dir, only=name).get(name, (None, None))
    status, detail = "not started", ""
    if summary is not None:
        status = summary.status
        if summary.best_value is not None:
            detail = f": best {summary.monitor} {summary.best_value:.4f}"
        if summary.test.get("test_accuracy") is not None:
            detail += f", test_accuracy {summary.test['test_accuracy']:.4f}"
    return f"[{done}] {name} {status} in {seconds:.0f} s{detail}"


def work(
    sweep_dir: Path, plan: sweep.SweepPlan, reporter: object, say: Callable[[str], None]
) -> tuple[bool, int]:
    """Be one worker of a sweep: train, in this process, each run no other worker holds.

    Returns (not interrupted, runs that failed here).
    """
    failed = 0
    with trials.sigterm_interrupts():
        try:
            for run in plan.runs:
                with runs.claim(sweep_dir / trials.LOCKS / f"{run.name}.lock") as mine:
                    req = _request(sweep_dir, plan, run) if mine else None
                    if req is None:
                        continue
                    t0 = time.perf_counter()
                    outcome = trials.run_trial(req, reporter)
                    if outcome.code == EXIT_INTERRUPTED:
                        return False, failed
                    failed += outcome.code != EXIT_OK
                    done = sum(
                        s.status == "completed" for _, s in sweep.find_runs(sweep_dir).values()
                    )
                    say(
                        _run_line(
                            sweep_dir,
                            run.name,
                            time.perf_counter() - t0,
                            f"{done}/{len(plan.runs)}",
                        )
                    )
                    if outcome.code != EXIT_OK and outcome.message:
                        say(f"  {outcome.message}")
        except KeyboardInterrupt:
            return False, failed
    return True, failed


def execute(
    sweep_dir: Path, plan: sweep.SweepPlan, jobs: int, reporter: object, say: Callable[[str], None]
) -> tuple[bool, int]:
    """Run every run not yet completed on `jobs` workers; (not interrupted, failures)."""
    found = sweep.find_runs(sweep_dir)
    left = [r for r in plan.runs if found.get(r.name, (None, None))[1] is None
            or found[r.name][1].status != "completed"]  # fmt: skip
    total = len(plan.runs)
    say(
        f"{len(left)} of {total} runs to do ({total - len(left)} already completed), {jobs} at once"
    )
    if jobs == 1:
        return work(sweep_dir, plan, reporter, say)
    seen: dict[str, str] = {n: s.status for n, (_, s) in found.items()}

    def poll() -> None:
        now = sweep.find_runs(sweep_dir)
        for name, (_, summary) in now.items():
            if summary.status != "running" and seen.get(name) != summary.status:
                seen[name] = summary.status
                done = sum(s.status == "completed" for _, s in now.values())
                say(_run_line(sweep_dir, name, summary.timings.fit_s or 0.0, f"{done}/{total}"))

    complete = trials.spawn_workers("sweep", sweep_dir, jobs, poll, say)
    after = sweep.find_runs(sweep_dir)
    failed = sum(1 for r in plan.runs if after.get(r.name, (None, None))[1] is not None
                 and after[r.name][1].status == "failed")  # fmt: skip
    return complete, failed


def run_sweep(req: SweepRequest, reporter: object, say: Callable[[str], None]) -> SweepOutcome:
    """Plan (or reopen) a sweep, run what is left, and collect its table and figure."""
    from cnnrun.analysis.curves import draw_bands

    sweep_dir, plan = _open(req)
    if req.print_commands and req.config is not None:
        lines = [shlex.join(sweep.train_command(str(req.config), sweep_dir, r)) for r in plan.runs]
        lines.append(f"# then: cnnrun sweep --collect {shlex.quote(str(sweep_dir))}")
        return SweepOutcome(EXIT_OK, sweep_dir, commands=lines)
    if req.config is not None:
        say(f"sweep folder: {sweep_dir}")
    complete, failed = True, 0
    if req.collect is None:
        complete, failed = execute(sweep_dir, plan, req.jobs, reporter, say)
    plan.results = collect(sweep_dir, plan)
    sweep.write_plan(sweep_dir, plan)
    groups = histories(sweep_dir, plan.results)
    figure = draw_bands(groups, sweep_dir / FIGURE, sweep_dir.name) if groups else None
    if plan.mlflow is not None and req.join is None:
        from cnnrun.tracking.tracker import end_parent

        files = [sweep_dir / runs.SWEEP, *([figure] if figure else [])]
        end_parent(plan.mlflow["tracking_uri"], plan.mlflow["run_id"], files, say)
    done = plan.results["status"].get("completed", 0)
    if not complete:
        code = EXIT_INTERRUPTED
    elif req.collect is not None:
        code = EXIT_OK if done else EXIT_FAILED
    elif req.join is not None:  # one worker of several: the others may still be training
        code = EXIT_FAILED if failed else EXIT_OK
    else:
        code = EXIT_FAILED if failed or done < len(plan.runs) else EXIT_OK
    return SweepOutcome(code, sweep_dir, plan.results, figure, complete)
