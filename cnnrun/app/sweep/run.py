"""`cnnrun sweep` and `cnnrun.sweep`: check every variant, run what is left, collect results.

Every variant's config is checked before anything runs (exit 2). The runs are the trials of
an Optuna study, queued in order (`cnnrun.app.sweep.study`), trained by the same workers as a
search's (`cnnrun.app.study`): this process with `jobs=1`, else J child processes or Slurm
jobs, and any `cnnrun sweep --join` elsewhere, given the sweep folder or, with a database
storage, only its URL. A run whose worker died is queued again and resumes in its folder.

Example:
    ```python
    outcome = sweep("configs/digits.yaml", grid=["train.batch_size=32,64"], seeds=2)
    [v["score_mean"] for v in outcome.results["variants"]]
    ```
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.analysis.curves import draw_bands
from cnnrun.app.study import launcher, published
from cnnrun.app.study.slurm import Slurm
from cnnrun.app.study.storage import JOURNAL, is_url, open_storage, require_optuna
from cnnrun.app.study.worker import reconcile
from cnnrun.app.sweep import plan as sweeps
from cnnrun.app.sweep import results as sweep_results
from cnnrun.app.sweep.study import fill, open_study
from cnnrun.app.sweep.worker import job as sweep_job
from cnnrun.config.overrides import set_line
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.hashes import require_unchanged
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import folder as runs
from cnnrun.runs import names
from cnnrun.runs.events import NullReporter, Reporter
from cnnrun.tracking.parents import check_tracking, end_parent, tracking_parent

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
    sbatch: str | None = None


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
    study: str | None = None,
    storage: str | None = None,
    heartbeat_s: int | None = None,
    launch: str = "local",
    slurm: Slurm | None = None,
    print_sbatch: bool = False,
    reporter: Reporter | None = None,
    say: Callable[[str], None] = print,
) -> SweepOutcome:
    """Train every variant of a config at several seeds, and say which beat the seed noise.

    Args:
        config: the config (give exactly one of `config`, `resume`, `join` and `collect`).
        grid: `KEY=V1,V2` strings: every combination is a variant (with the config's
            `sweep:` section).
        seeds: runs per variant, with seeds seed, seed+1, ... (default: `sweep.seeds` or 1).
        jobs: workers: processes here (each with cores / jobs threads), or Slurm jobs.
        overrides: `KEY=VALUE` strings applied to every run.
        runs_dir, name: where the sweep folder is made, and its name.
        print_commands: make the sweep folder and return each run's `cnnrun train` line.
        resume: a sweep folder to finish; join: a sweep folder or a storage URL to add a
            worker to; collect: one to gather the results from without training.
        study: with `join` or `collect` a URL, the study's name (default: the only sweep the
            storage holds).
        storage: an Optuna storage URL for the study (default: a journal file in the folder).
        heartbeat_s: a database storage's heartbeat (default 30 s); a run whose worker
            misses four is queued again.
        launch: `local` (processes here) or `slurm` (jobs, through submitit).
        slurm: the Slurm jobs' resources; print_sbatch: return an `sbatch` array script of
            `jobs` workers instead of starting them.
        reporter: shows each run's warnings (default: none).
        say: where progress lines go (one per finished run).

    Returns:
        The outcome: `results` has per-variant means and spreads over seeds and the pairs
        that differ beyond the seed noise (Welch's t-test, Holm-corrected).

    Raises:
        UserError: a bad config, variant or storage, before any run starts.
    """
    if sum(x is not None for x in (config, resume, collect, join)) != 1:
        raise UserError(
            Problem(
                "give exactly one of CONFIG, --resume SWEEP_DIR, --join SWEEP_DIR|URL "
                "or --collect SWEEP_DIR|URL"
            )
        )
    launcher.check(launch)
    if config is not None:
        sets, grids = list(overrides or ()), list(grid or ())
        where = (Path(runs_dir), name, storage, heartbeat_s)
        sweep_dir, plan = _new(Path(config), sets, grids, seeds, *where, print_commands)
        if print_commands:
            lines = [shlex.join(sweeps.train_command(str(config), sweep_dir, r)) for r in plan.runs]
            lines.append(f"# then: cnnrun sweep --collect {shlex.quote(str(sweep_dir))}")
            return SweepOutcome(EXIT_OK, sweep_dir, commands=lines)
        if not print_sbatch:  # the script alone on stdout, for `> job.sh`
            say(f"sweep folder: {sweep_dir}")
    else:
        target = collect or resume or join
        sweep_dir, plan = _reopen(target, study, Path(runs_dir), collect is None)  # type: ignore[arg-type]
    if collect is not None:
        return _finish(sweep_dir, plan, _found(sweep_dir, plan), True, "collect", say)
    if print_sbatch:
        _prepare(sweep_dir, plan, new=config is not None)
        script = launcher.sbatch("sweep", sweep_dir, plan.storage, plan.study_name, jobs, slurm)
        return SweepOutcome(EXIT_OK, sweep_dir, sbatch=script)
    how = Launch(jobs, launch, slurm, reporter or NullReporter(), say)
    complete, found = execute(sweep_dir, plan, how, new=config is not None)
    return _finish(sweep_dir, plan, found, complete, "join" if join is not None else "run", say)


def _prepare(sweep_dir: Path, plan: sweeps.SweepPlan, new: bool) -> tuple[Any, Any]:
    """The sweep's study and storage, its runs queued; a new one keeps the plan for workers
    that join from its URL alone."""
    study_, store = open_study(sweep_dir, plan, resuming=not new)
    fill(study_, sweep_dir, plan)
    if new:
        published.publish(study_, "sweep", plan.as_dict(), Path(plan.config))
    return study_, store


@dataclass(frozen=True)
class Launch:
    """How a sweep's workers run: how many, where (`local` or `slurm`), and what they say."""

    jobs: int = 1
    launch: str = "local"
    slurm: Slurm | None = None
    reporter: Reporter = field(default_factory=NullReporter)
    say: Callable[[str], None] = print


def execute(
    sweep_dir: Path, plan: sweeps.SweepPlan, how: Launch, new: bool = False
) -> tuple[bool, dict[str, sweep_results.Found]]:
    """Run the sweep's study to its end on `how.jobs` workers: (not interrupted, its runs)."""
    study_, store = _prepare(sweep_dir, plan, new)
    job = sweep_job(sweep_dir, plan)
    reconcile(study_, store, job)
    left = sum(1 for t in study_.get_trials(deepcopy=False) if not t.state.is_finished())
    total = len(plan.runs)
    how.say(f"{left} of {total} runs to do ({total - left} already done), {how.jobs} worker(s)")
    args = (plan.storage, how.jobs, how.launch, how.slurm, how.reporter, how.say, plan.mlflow)
    complete = launcher.run("sweep", study_, store, job, *args)
    return complete, {**sweep_results.in_folder(sweep_dir), **sweep_results.in_study(study_)}


def _new(
    config: Path,
    sets: list[str],
    grid: list[str],
    seeds: int | None,
    runs_dir: Path,
    name: str | None,
    storage: str | None,
    heartbeat_s: int | None,
    by_hand: bool,
) -> tuple[Path, sweeps.SweepPlan]:
    """A new sweep folder and its plan, every variant and the storage checked first."""
    require_dir_or_new(runs_dir, "a folder for the sweep folder (--runs-dir)")
    planned = sweeps.plan_runs(config, sets, grid, seeds)
    if not by_hand:
        require_optuna("sweep")
        if storage is not None and urls.anchored_sqlite(storage, Path(".")) == storage:
            open_storage(Path("."), storage)  # a storage that does not open: exit 2, no folder
    tracked = check_tracking(config, sets, runs_dir)
    sweep_dir = runs.create_run_dir(runs_dir, f"sweep-{name or config.stem}")
    plan = sweeps.new_plan(config.resolve(), planned)
    plan.storage = None if storage is None else urls.anchored_sqlite(storage, sweep_dir)
    plan.study_name = "" if by_hand else sweep_dir.name
    if heartbeat_s is not None:
        plan.heartbeat_s = heartbeat_s
    if tracked:
        plan.mlflow = tracking_parent(config, sets, runs_dir, sweep_dir.name, "sweep")
    if plan.mlflow is not None:  # every run logs to the same store, as a child
        where = {k: plan.mlflow[k] for k in ("tracking_uri", "experiment")}
        line = set_line("logging.mlflow", where)
        plan.runs = [replace(r, sets=(*r.sets, line)) for r in plan.runs]
    sweeps.write_plan(sweep_dir, plan)
    return sweep_dir, plan


def _reopen(
    target: str | Path, study: str | None, runs_dir: Path, training: bool
) -> tuple[Path, sweeps.SweepPlan]:
    """The folder and plan of a sweep to resume, join or collect: from its folder (one made
    before the study gets one now), or from the study a storage URL holds."""
    if is_url(target):
        url = str(target)
        found = published.read(open_storage(Path("."), url), url, study, "sweep")
        require_dir_or_new(runs_dir, "a folder for the sweep folder (--runs-dir)")
        sweep_dir = runs_dir / found.study_name
        sweep_dir.mkdir(parents=True, exist_ok=True)
        plan = sweeps.plan_of({**found.plan, "storage": url})
        plan.config = str(published.local_config(found, sweep_dir))
        if not (sweep_dir / names.SWEEP).is_file():
            sweeps.write_plan(sweep_dir, plan)
        return sweep_dir, plan
    sweep_dir = Path(target)
    plan = sweeps.read_plan(sweep_dir)
    if training:
        require_unchanged(Path(plan.config), plan.config_sha256, sweep_dir, "sweep")
        if not plan.study_name:  # from before the study, or made for --print-commands
            plan.version, plan.study_name = 2, sweep_dir.name
            sweeps.write_plan(sweep_dir, plan)
    return sweep_dir, plan


def _found(sweep_dir: Path, plan: sweeps.SweepPlan) -> dict[str, sweep_results.Found]:
    """The runs to collect: the folder's, and the study's where it has one."""
    found = sweep_results.in_folder(sweep_dir)
    has_study = plan.study_name and (plan.storage or (sweep_dir / JOURNAL).is_file())
    if has_study:
        study_, _ = open_study(sweep_dir, plan, resuming=True)
        found.update(sweep_results.in_study(study_))
    return found


def _finish(
    sweep_dir: Path,
    plan: sweeps.SweepPlan,
    found: dict[str, sweep_results.Found],
    complete: bool,
    role: str,
    say: Callable[[str], None],
) -> SweepOutcome:
    """Collect the results into `sweep.json`, draw the figure, end the MLflow parent (unless
    this process only helps: `role` is `join` or `collect`)."""
    plan.results = sweep_results.collect(plan, found)
    sweeps.write_plan(sweep_dir, plan)
    groups = sweep_results.histories(found, plan.results)
    figure = draw_bands(groups, sweep_dir / FIGURE, sweep_dir.name) if groups else None
    if plan.mlflow is not None and role == "run":
        files = [sweep_dir / names.SWEEP, *([figure] if figure else [])]
        end_parent(plan.mlflow["tracking_uri"], plan.mlflow["run_id"], files, say)
    status = plan.results["status"]
    done, failed = status.get("completed", 0), status.get("failed", 0)
    if not complete:
        code = EXIT_INTERRUPTED
    elif role == "collect":
        code = EXIT_OK if done else EXIT_FAILED
    elif role == "join":  # one worker of several: the others may still be training
        code = EXIT_FAILED if failed else EXIT_OK
    else:
        code = EXIT_FAILED if failed or done < len(plan.runs) else EXIT_OK
    return SweepOutcome(code, sweep_dir, plan.results, figure, complete)
