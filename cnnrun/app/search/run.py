"""`cnnrun search` and `cnnrun.search`: check the space, open the study, run workers to the
trial count, collect the results.

Every point of the space is checked before the search folder is made (exit 2); the trials
run on workers (`cnnrun.app.search.worker`): this process with `jobs=1`, else J child
processes, and any `cnnrun search --join` elsewhere. `confirm_seeds` then trains the best
trial and the starting config again (`cnnrun.app.search.confirm`).

Example:
    ```python
    outcome = search("configs/search-digits.yaml", trials=8, jobs=2)
    outcome.results["best"]["value"], outcome.best_config
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.analysis.search_figure import draw_search
from cnnrun.app import workers
from cnnrun.app.search import plan as searches
from cnnrun.app.search import results as search_results
from cnnrun.app.search import study as studies
from cnnrun.app.search.confirm import confirm
from cnnrun.app.search.worker import trial_line, work
from cnnrun.config.overrides import set_line
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.hashes import require_unchanged
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import folder as runs
from cnnrun.runs import names
from cnnrun.runs.events import NullReporter, Reporter
from cnnrun.tracking.parents import check_tracking, end_parent, tracking_parent
from cnnrun.tracking.store import mlflow_secrets


@dataclass
class SearchOutcome:
    """How a search ended: its exit code, folder, results (the trials, counts, best trial and
    importances), `search.png`, `best.yaml`, whether it got to its count, the confirmation."""

    code: int
    search_dir: Path
    results: dict = field(default_factory=dict)
    figure: Path | None = None
    best_config: Path | None = None
    complete: bool = True
    confirm: dict | None = None


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
    storage: str | None = None,
    confirm_seeds: int | None = None,
    reporter: Reporter | None = None,
    say: Callable[[str], None] = print,
) -> SearchOutcome:
    """Search a config's `search:` space on Optuna; every trial is a normal run folder.

    Args:
        config: the config (give exactly one of `config`, `resume` and `join`).
        trials: trials in all (default: `search.trials`).
        jobs: worker processes here, each with cores / jobs threads.
        overrides: `KEY=VALUE` strings applied to every trial.
        runs_dir, name: where the search folder is made, and its name.
        resume: a search folder to continue to its count; join: one to add workers to.
        storage: an Optuna storage URL for the study (default: a journal file in the folder).
        confirm_seeds: then train the best trial and the start at this many seeds each.
        reporter: shows each trial's warnings (default: none).
        say: where progress lines go (one per finished trial).

    Raises:
        UserError: a bad config, space or storage, before the search folder is made.
    """
    if sum(x is not None for x in (config, resume, join)) != 1:
        raise UserError(
            Problem("give exactly one of CONFIG, --resume SEARCH_DIR or --join SEARCH_DIR")
        )
    if config is not None:
        search_dir, plan = _new(
            Path(config), list(overrides or ()), trials, Path(runs_dir), name, storage
        )
        say(f"search folder: {search_dir}")
    else:
        search_dir = Path(resume or join)  # type: ignore[arg-type]
        plan = _reopen(search_dir, trials, storage)
    # one study for this process: its sampler seeded when this process is the only worker
    solo, resuming = jobs == 1 and join is None, config is None
    study, store = studies.open_study(search_dir, plan, solo, resuming)
    shown = reporter or NullReporter()
    complete = _execute(study, store, search_dir, plan, jobs, shown, say)
    outcome = _finish(study, search_dir, plan, join is not None, say)
    outcome.complete = complete
    if not complete:
        outcome.code = EXIT_INTERRUPTED
        return outcome
    if confirm_seeds and outcome.results.get("best"):
        outcome.confirm = confirm(
            study.best_trial, search_dir, plan, confirm_seeds, jobs, shown, say
        )
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
) -> tuple[Path, searches.SearchPlan]:
    """A new search folder and its plan, the space and the storage checked first."""
    require_dir_or_new(runs_dir, "a folder for the search folder (--runs-dir)")
    plan = searches.new_plan(config, sets, trials, "")
    studies.require_optuna()
    if storage is not None and urls.anchored_sqlite(storage, Path(".")) == storage:
        plan.storage = storage  # a storage that does not open: exit 2, no folder
        studies.storage(Path("."), plan)
    tracked = check_tracking(config, sets, runs_dir)
    search_dir = runs.create_run_dir(runs_dir, f"search-{name or config.stem}")
    # a relative SQLite file lives in the search folder, found again from any folder
    plan.storage = None if storage is None else urls.anchored_sqlite(storage, search_dir)
    plan.study_name = search_dir.name
    if tracked:
        plan.mlflow = tracking_parent(config, sets, runs_dir, search_dir.name, "search")
    if plan.mlflow is not None:  # every trial logs to the same store, as a child
        where = {k: plan.mlflow[k] for k in ("tracking_uri", "experiment")}
        plan.sets = [*plan.sets, set_line("logging.mlflow", where)]
    searches.write_plan(search_dir, plan)
    return search_dir, plan


def _reopen(search_dir: Path, trials: int | None, storage: str | None) -> searches.SearchPlan:
    """The plan of a search to resume or join; a new trial count is recorded. `storage`
    may give the recorded storage's password again (kept in this process only)."""
    plan = searches.read_plan(search_dir)
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
    return plan


def _execute(
    study: Any,
    store: Any,
    search_dir: Path,
    plan: searches.SearchPlan,
    jobs: int,
    reporter: Reporter,
    say: Callable[[str], None],
) -> bool:
    say(f"{studies.taken(study)} of {plan.trials} trials taken, {jobs} worker(s)")
    if jobs == 1:
        return work(study, store, search_dir, plan, reporter, say)
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}

    def poll() -> None:
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in seen and not t.user_attrs.get("requeued"):
                seen.add(t.number)
                say(trial_line(study, t.number, plan))

    return workers.spawn_workers("search", search_dir, jobs, poll, say, _secrets(plan))


def _secrets(plan: searches.SearchPlan) -> dict[str, str]:
    """The passwords given in this process's URLs, for its workers' environment."""
    out = mlflow_secrets((plan.mlflow or {}).get("tracking_uri"))
    secret = urls.password(plan.storage or "")
    if secret is not None:
        out[studies.STORAGE_PASSWORD] = secret
    return out


def _finish(
    study: Any,
    search_dir: Path,
    plan: searches.SearchPlan,
    joined: bool,
    say: Callable[[str], None],
) -> SearchOutcome:
    results = search_results.collect(search_dir, plan, study)
    best = search_results.write_best(search_dir, results["best"]) if results["best"] else None
    figure = draw_search(results, search_dir / search_results.FIGURE, search_dir.name)
    plan.results = results
    searches.write_plan(search_dir, plan)
    if plan.mlflow is not None and not joined:  # a joining worker leaves that to the search
        files = [search_dir / names.SEARCH, figure, *([best] if best else [])]
        end_parent(plan.mlflow["tracking_uri"], plan.mlflow["run_id"], files, say)
    done = results["counts"].get("completed", 0)
    return SearchOutcome(EXIT_OK if done else EXIT_FAILED, search_dir, results, figure, best)
