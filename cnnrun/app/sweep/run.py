"""`cnnrun sweep` and `cnnrun.sweep`: check every variant, run what is left, collect results.

Every variant's config is checked before anything runs (exit 2); each run is an ordinary run
folder trained by a worker (`cnnrun.app.workers`): this process with `jobs=1`, else J child
processes, and any `cnnrun sweep --join` elsewhere. A worker takes the next run nobody holds,
resumed where an earlier attempt left it.

Example:
    ```python
    outcome = sweep("configs/digits.yaml", grid=["train.batch_size=32,64"], seeds=2)
    [v["score_mean"] for v in outcome.results["variants"]]
    ```
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cnnrun.analysis.curves import draw_bands
from cnnrun.app import workers
from cnnrun.app.sweep import plan as sweeps
from cnnrun.app.sweep.results import collect as collect_results
from cnnrun.app.sweep.results import histories
from cnnrun.app.train import TrainRequest
from cnnrun.config.overrides import set_line
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.hashes import require_unchanged
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import folder as runs
from cnnrun.runs import locks, names
from cnnrun.runs.events import NullReporter, Reporter
from cnnrun.tracking.parents import check_tracking, end_parent, tracking_parent
from cnnrun.tracking.store import mlflow_secrets

FIGURE = "sweep_curves.png"


@dataclass
class SweepOutcome:
    """How a sweep ended: its exit code, folder, results (`cnnrun.app.sweep.results`) and
    figure; whether every run got to run; the commands, with `print_commands`."""

    code: int
    sweep_dir: Path
    results: dict = field(default_factory=dict)
    figure: Path | None = None
    complete: bool = True
    commands: list[str] = field(default_factory=list)


def sweep(
    config: str | Path | None = None,
    *,
    grid: Sequence[str] | None = (),
    seeds: int | None = None,
    jobs: int = 1,
    overrides: Sequence[str] | None = (),
    runs_dir: str | Path = "runs",
    name: str | None = None,
    print_commands: bool = False,
    resume: str | Path | None = None,
    collect: str | Path | None = None,
    join: str | Path | None = None,
    reporter: Reporter | None = None,
    say: Callable[[str], None] = print,
) -> SweepOutcome:
    """Train every variant of a config at several seeds, and say which beat the seed noise.

    Args:
        config: the config (give exactly one of `config`, `resume`, `join` and `collect`).
        grid: `KEY=V1,V2` strings: every combination is a variant (with the config's
            `sweep:` section).
        seeds: runs per variant, with seeds seed, seed+1, ... (default: `sweep.seeds` or 1).
        jobs: worker processes here, each with cores / jobs threads.
        overrides: `KEY=VALUE` strings applied to every run.
        runs_dir, name: where the sweep folder is made, and its name.
        print_commands: make the sweep folder and return each run's `cnnrun train` line.
        resume: a sweep folder to finish; join: one to add workers to (from another machine
            sharing it); collect: one to gather results from without training.
        reporter: shows each run's warnings (default: none).
        say: where progress lines go (one per finished run).

    Returns:
        The outcome: `results` has per-variant means and spreads over seeds and the pairs
        that differ beyond the seed noise (Welch's t-test, Holm-corrected).

    Raises:
        UserError: a bad config or variant, before any run starts.
    """
    given = (config, resume, collect, join)
    if sum(x is not None for x in given) != 1:
        raise UserError(
            Problem(
                "give exactly one of CONFIG, --resume SWEEP_DIR, --join SWEEP_DIR "
                "or --collect SWEEP_DIR"
            )
        )
    if config is None:
        folder = Path(collect or resume or join)  # type: ignore[arg-type]
        sweep_dir, plan = folder, sweeps.read_plan(folder)
        if collect is None:
            require_unchanged(Path(plan.config), plan.config_sha256, folder, "sweep")
    else:
        sets, grids = list(overrides or ()), list(grid or ())
        sweep_dir, plan = _new(Path(config), sets, grids, seeds, Path(runs_dir), name)
        if print_commands:
            lines = [shlex.join(sweeps.train_command(str(config), sweep_dir, r)) for r in plan.runs]
            lines.append(f"# then: cnnrun sweep --collect {shlex.quote(str(sweep_dir))}")
            return SweepOutcome(EXIT_OK, sweep_dir, commands=lines)
        say(f"sweep folder: {sweep_dir}")
    complete, failed = True, 0
    if collect is None:
        complete, failed = execute(sweep_dir, plan, jobs, reporter or NullReporter(), say)
    return _finish(sweep_dir, plan, complete, failed, collect is not None, join is not None, say)


def _new(
    config: Path,
    sets: list[str],
    grid: list[str],
    seeds: int | None,
    runs_dir: Path,
    name: str | None,
) -> tuple[Path, sweeps.SweepPlan]:
    """A new sweep folder and its plan, every variant checked first."""
    require_dir_or_new(runs_dir, "a folder for the sweep folder (--runs-dir)")
    planned = sweeps.plan_runs(config, sets, grid, seeds)
    tracked = check_tracking(config, sets, runs_dir)
    sweep_dir = runs.create_run_dir(runs_dir, f"sweep-{name or config.stem}")
    plan = sweeps.new_plan(config.resolve(), planned)
    if tracked:
        plan.mlflow = tracking_parent(config, sets, runs_dir, sweep_dir.name, "sweep")
    if plan.mlflow is not None:  # every run logs to the same store, as a child
        where = {k: plan.mlflow[k] for k in ("tracking_uri", "experiment")}
        line = set_line("logging.mlflow", where)
        plan.runs = [replace(r, sets=(*r.sets, line)) for r in plan.runs]
    sweeps.write_plan(sweep_dir, plan)
    return sweep_dir, plan


def _finish(
    sweep_dir: Path,
    plan: sweeps.SweepPlan,
    complete: bool,
    failed: int,
    collecting: bool,
    joined: bool,
    say: Callable[[str], None],
) -> SweepOutcome:
    """Collect the results into `sweep.json`, draw the figure, end the MLflow parent."""
    plan.results = collect_results(sweep_dir, plan)
    sweeps.write_plan(sweep_dir, plan)
    groups = histories(sweep_dir, plan.results)
    figure = draw_bands(groups, sweep_dir / FIGURE, sweep_dir.name) if groups else None
    if plan.mlflow is not None and not joined:
        files = [sweep_dir / names.SWEEP, *([figure] if figure else [])]
        end_parent(plan.mlflow["tracking_uri"], plan.mlflow["run_id"], files, say)
    done = plan.results["status"].get("completed", 0)
    if not complete:
        code = EXIT_INTERRUPTED
    elif collecting:
        code = EXIT_OK if done else EXIT_FAILED
    elif joined:  # one worker of several: the others may still be training
        code = EXIT_FAILED if failed else EXIT_OK
    else:
        code = EXIT_FAILED if failed or done < len(plan.runs) else EXIT_OK
    return SweepOutcome(code, sweep_dir, plan.results, figure, complete)


def _request(sweep_dir: Path, plan: sweeps.SweepPlan, run: sweeps.SweepRun) -> TrainRequest | None:
    """How to train a run: resumed if it started, new if not, None if it is completed."""
    run_dir, summary = sweeps.find_runs(sweep_dir, only=run.name).get(run.name, (None, None))
    if summary is not None and summary.status == "completed":
        return None
    parent = (plan.mlflow or {}).get("run_id")
    if run_dir is not None:
        return TrainRequest(resume=run_dir, tracking_parent=parent)
    return TrainRequest(
        config=Path(plan.config),
        overrides=tuple(run.sets),
        runs_dir=sweep_dir,
        name=run.name,
        tracking_parent=parent,
    )


def _run_line(sweep_dir: Path, name: str, seconds: float, done: str) -> str:
    _, summary = sweeps.find_runs(sweep_dir, only=name).get(name, (None, None))
    status, detail = "not started", ""
    if summary is not None:
        status = summary.status
        if summary.best_value is not None:
            detail = f": best {summary.monitor} {summary.best_value:.4f}"
        if summary.test.get("test_accuracy") is not None:
            detail += f", test_accuracy {summary.test['test_accuracy']:.4f}"
    return f"[{done}] {name} {status} in {seconds:.0f} s{detail}"


def _completed(sweep_dir: Path) -> int:
    return sum(s.status == "completed" for _, s in sweeps.find_runs(sweep_dir).values())


def work(
    sweep_dir: Path, plan: sweeps.SweepPlan, reporter: Reporter, say: Callable[[str], None]
) -> tuple[bool, int]:
    """Be one worker of a sweep: train, in this process, each run no other worker holds.

    Returns (not interrupted, runs that failed here).
    """
    failed = 0
    with workers.sigterm_interrupts():
        try:
            for run in plan.runs:
                with locks.claim(sweep_dir / names.LOCKS / f"{run.name}.lock") as mine:
                    req = _request(sweep_dir, plan, run) if mine else None
                    if req is None:
                        continue
                    t0 = time.perf_counter()
                    outcome = workers.run_trial(req, reporter)
                    if outcome.code == EXIT_INTERRUPTED:
                        return False, failed
                    failed += outcome.code != EXIT_OK
                    done = f"{_completed(sweep_dir)}/{len(plan.runs)}"
                    say(_run_line(sweep_dir, run.name, time.perf_counter() - t0, done))
                    if outcome.code != EXIT_OK and outcome.message:
                        say(f"  {outcome.message}")
        except KeyboardInterrupt:
            return False, failed
    return True, failed


def execute(
    sweep_dir: Path,
    plan: sweeps.SweepPlan,
    jobs: int,
    reporter: Reporter,
    say: Callable[[str], None],
) -> tuple[bool, int]:
    """Run every run not yet completed on `jobs` workers; (not interrupted, failures)."""
    found = sweeps.find_runs(sweep_dir)
    status = {name: s.status for name, (_, s) in found.items()}
    left = [r for r in plan.runs if status.get(r.name) != "completed"]
    total = len(plan.runs)
    say(
        f"{len(left)} of {total} runs to do ({total - len(left)} already completed), {jobs} at once"
    )
    if jobs == 1:
        return work(sweep_dir, plan, reporter, say)

    def poll() -> None:
        now = sweeps.find_runs(sweep_dir)
        for name, (_, summary) in now.items():
            if summary.status != "running" and status.get(name) != summary.status:
                status[name] = summary.status
                done = sum(s.status == "completed" for _, s in now.values())
                say(_run_line(sweep_dir, name, summary.timings.fit_s or 0.0, f"{done}/{total}"))

    secrets = mlflow_secrets((plan.mlflow or {}).get("tracking_uri"))
    complete = workers.spawn_workers("sweep", sweep_dir, jobs, poll, say, secrets)
    after = {name: s.status for name, (_, s) in sweeps.find_runs(sweep_dir).items()}
    return complete, sum(after.get(r.name) == "failed" for r in plan.runs)
