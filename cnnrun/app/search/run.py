"""`cnnrun search` and `cnnrun.search`: check the space, open the study, run workers to the
trial count, collect the results.

Every point of the space is checked before the search folder is made (exit 2); the trials
run on workers (`cnnrun.app.study.worker`): this process with `jobs=1`, else J child
processes or Slurm jobs, and any `cnnrun search --join` elsewhere, given the search folder or,
with a database storage, only its URL. `confirm_seeds` then trains the best trial and the
starting config again (`cnnrun.app.search.confirm`).

Example:
    ```python
    outcome = search("configs/search-digits.yaml", trials=8, jobs=2)
    outcome.results["best"]["value"], outcome.best_config
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.analysis.search_figure import draw_search
from cnnrun.app.search import plan as searches
from cnnrun.app.search import results as search_results
from cnnrun.app.search import study as studies
from cnnrun.app.search.confirm import confirm
from cnnrun.app.search.worker import job
from cnnrun.app.study import launcher, published
from cnnrun.app.study.slurm import Slurm
from cnnrun.app.study.storage import is_url, open_storage, require_optuna
from cnnrun.app.study.worker import counted, reconcile
from cnnrun.config.overrides import set_line
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.hashes import require_unchanged
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import folder as runs
from cnnrun.runs import names
from cnnrun.runs.events import NullReporter, Reporter
from cnnrun.tracking.parents import check_tracking, end_parent, tracking_parent


@dataclass
class SearchOutcome:
    """How a search ended: its exit code, folder, results (the trials, counts, best trial and
    importances), `search.png`, `best.yaml`, whether it got to its count, the confirmation;
    the `sbatch` script, with `print_sbatch`."""

    code: int
    search_dir: Path
    results: dict = field(default_factory=dict)
    figure: Path | None = None
    best_config: Path | None = None
    complete: bool = True
    confirm: dict | None = None
    sbatch: str | None = None


def search(
    config: str | Path | None = None,
    *,
    trials: int | None = None,
    jobs: int = 1,
    overrides: Sequence[str] = (),
    runs_dir: str | Path = "runs",
    name: str | None = None,
    resume: str | Path | None = None,
    join: str | Path | None = None,
    collect: str | Path | None = None,
    study: str | None = None,
    storage: str | None = None,
    heartbeat_s: int | None = None,
    launch: str = "local",
    slurm: Slurm | None = None,
    print_sbatch: bool = False,
    confirm_seeds: int | None = None,
    reporter: Reporter | None = None,
    say: Callable[[str], None] = print,
) -> SearchOutcome:
    """Search a config's `search:` space on Optuna; every trial is a normal run folder.

    Args:
        config: the config (give exactly one of `config`, `resume`, `join` and `collect`).
        trials: trials in all (default: `search.trials`).
        jobs: workers: processes here (each with cores / jobs threads), or Slurm jobs.
        overrides: `KEY=VALUE` strings applied to every trial.
        runs_dir, name: where the search folder is made, and its name.
        resume: a search folder to continue to its count; join: a search folder or a
            storage URL to add a worker to; collect: one to gather the results from.
        study: with `join` or `collect` a URL, the study's name (default: the only search
            the storage holds).
        storage: an Optuna storage URL for the study (default: a journal file in the folder).
        heartbeat_s: a database storage's heartbeat (default 30 s); a trial whose worker
            misses four is failed and queued again.
        launch: `local` (processes here) or `slurm` (jobs, through submitit).
        slurm: the Slurm jobs' resources; print_sbatch: return an `sbatch` array script
            of `jobs` workers instead of starting them.
        confirm_seeds: then train the best trial and the start at this many seeds each.
        reporter: shows each trial's warnings (default: none).
        say: where progress lines go (one per finished trial).

    Raises:
        UserError: a bad config, space or storage, before the search folder is made.
    """
    if sum(x is not None for x in (config, resume, join, collect)) != 1:
        raise UserError(
            Problem(
                "give exactly one of CONFIG, --resume SEARCH_DIR, --join SEARCH_DIR|URL "
                "or --collect SEARCH_DIR|URL"
            )
        )
    launcher.check(launch)
    if config is not None:
        sets, where = list(overrides or ()), (Path(runs_dir), name, storage, heartbeat_s)
        search_dir, plan = _new(Path(config), sets, trials, *where)
        if not print_sbatch:  # the script alone on stdout, for `> job.sh`
            say(f"search folder: {search_dir}")
    else:
        target = resume or join or collect
        search_dir, plan = _reopen(target, study, Path(runs_dir), trials, storage, collect)
    # one study for this process: its sampler seeded when this process is the only worker
    solo = jobs == 1 and join is None and launch == "local"
    study_, store = studies.open_study(search_dir, plan, solo, config is None)
    if config is not None:
        published.publish(study_, "search", asdict(plan), Path(plan.config))
        studies.enqueue_grid(study_, plan)
    if print_sbatch:
        script = launcher.sbatch("search", search_dir, plan.storage, plan.study_name, jobs, slurm)
        return SearchOutcome(EXIT_OK, search_dir, sbatch=script)
    complete = True
    if collect is None:
        shown = reporter or NullReporter()
        complete = _execute(study_, store, search_dir, plan, jobs, launch, slurm, shown, say)
    outcome = _finish(study_, search_dir, plan, config is None and resume is None, say)
    outcome.complete = complete
    if not complete:
        outcome.code = EXIT_INTERRUPTED
    elif confirm_seeds and outcome.results.get("best"):
        shown = reporter or NullReporter()
        best = study_.best_trial
        outcome.confirm = confirm(best, search_dir, plan, confirm_seeds, jobs, shown, say)
        if not outcome.confirm["complete"]:
            outcome.code = EXIT_INTERRUPTED
    return outcome


def _new(
    config: Path,
    sets: list[str],
    trials: int | None,
    runs_dir: Path,
    name: str | None,
    storage: str | None,
    heartbeat_s: int | None,
) -> tuple[Path, searches.SearchPlan]:
    """A new search folder and its plan, the space and the storage checked first."""
    require_dir_or_new(runs_dir, "a folder for the search folder (--runs-dir)")
    plan = searches.new_plan(config, sets, trials, "")
    require_optuna()
    if storage is not None and urls.anchored_sqlite(storage, Path(".")) == storage:
        open_storage(Path("."), storage)  # a storage that does not open: exit 2, no folder
    tracked = check_tracking(config, sets, runs_dir)
    search_dir = runs.create_run_dir(runs_dir, f"search-{name or config.stem}")
    # a relative SQLite file lives in the search folder, found again from any folder
    plan.storage = None if storage is None else urls.anchored_sqlite(storage, search_dir)
    plan.study_name = search_dir.name
    if heartbeat_s is not None:
        plan.heartbeat_s = heartbeat_s
    if tracked:
        plan.mlflow = tracking_parent(config, sets, runs_dir, search_dir.name, "search")
    if plan.mlflow is not None:  # every trial logs to the same store, as a child
        where = {k: plan.mlflow[k] for k in ("tracking_uri", "experiment")}
        plan.sets = [*plan.sets, set_line("logging.mlflow", where)]
    searches.write_plan(search_dir, plan)
    return search_dir, plan


def _reopen(
    target: str | Path,
    study: str | None,
    runs_dir: Path,
    trials: int | None,
    storage: str | None,
    collect: str | Path | None,
) -> tuple[Path, searches.SearchPlan]:
    """The folder and plan of a search to resume, join or collect: from its folder, or from
    the study a storage URL holds (into a folder of the same name under `runs_dir`)."""
    if is_url(target):
        return _from_storage(str(target), study, runs_dir)
    search_dir = Path(target)
    plan = searches.read_plan(search_dir)
    if collect is None:
        require_unchanged(Path(plan.config), plan.config_sha256, search_dir, "search")
    if storage is not None:
        given = urls.anchored_sqlite(storage, search_dir)
        if urls.without_password(given) != plan.storage:
            raise UserError(
                Problem(
                    f"this search keeps its study in {urls.masked(plan.storage or 'its folder')}, "
                    f"not {urls.masked(given)}",
                    file=str(search_dir / searches.SEARCH),
                    hint="leave --storage out to resume from the recorded storage",
                )
            )
        plan.storage = given
    if trials is not None and trials != plan.trials:
        plan.trials = trials
        searches.write_plan(search_dir, plan)
    return search_dir, plan


def _from_storage(url: str, study: str | None, runs_dir: Path) -> tuple[Path, searches.SearchPlan]:
    found = published.read(open_storage(Path("."), url), url, study, "search")
    require_dir_or_new(runs_dir, "a folder for the search folder (--runs-dir)")
    search_dir = runs_dir / found.study_name
    search_dir.mkdir(parents=True, exist_ok=True)
    plan = searches.SearchPlan(**{**found.plan, "storage": url})
    plan.config = str(published.local_config(found, search_dir))
    if not (search_dir / names.SEARCH).is_file():
        searches.write_plan(search_dir, plan)
    return search_dir, plan


def _execute(
    study: Any,
    store: Any,
    search_dir: Path,
    plan: searches.SearchPlan,
    jobs: int,
    launch: str,
    slurm: Slurm | None,
    reporter: Reporter,
    say: Callable[[str], None],
) -> bool:
    work = job(search_dir, plan)
    reconcile(study, store, work)
    taken = counted(study.get_trials(deepcopy=False))
    say(f"{taken} of {plan.trials} trials taken, {jobs} worker(s)")
    return launcher.run(
        "search", study, store, work, plan.storage, jobs, launch, slurm, reporter, say, plan.mlflow
    )


def _finish(
    study: Any,
    search_dir: Path,
    plan: searches.SearchPlan,
    helper: bool,
    say: Callable[[str], None],
) -> SearchOutcome:
    """Write the results, `best.yaml` and the figure; end the MLflow parent run unless this
    process only helps (a joining worker, a reader)."""
    results = search_results.collect(search_dir, plan, study)
    best = None
    if results["best"]:
        best = search_results.write_best(search_dir, results["best"], study)
    figure = draw_search(results, search_dir / search_results.FIGURE, search_dir.name)
    plan.results = results
    searches.write_plan(search_dir, plan)
    if plan.mlflow is not None and not helper:
        files = [search_dir / names.SEARCH, figure, *([best] if best else [])]
        end_parent(plan.mlflow["tracking_uri"], plan.mlflow["run_id"], files, say)
    done = results["counts"].get("completed", 0)
    return SearchOutcome(EXIT_OK if done else EXIT_FAILED, search_dir, results, figure, best)
