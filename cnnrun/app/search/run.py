"""Running a search: check its space, open the study, run workers to the count, collect.

`run_search` is what `cnnrun search` calls. Every point of the space is checked before the
search folder is made (exit 2); the trials run on workers (`cnnrun.app.workers`): this
process with `--jobs 1`, else J child processes, and any `cnnrun search --join` elsewhere.
`--confirm-seeds N` then trains the best trial and the starting config at N seeds, as a
sweep, and says whether the best beats the start beyond the seed noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnnrun.app import workers as trials
from cnnrun.app.search import plan as search_plan
from cnnrun.app.search import results as search_results
from cnnrun.app.search import study as search
from cnnrun.app.sweep import plan as sweep
from cnnrun.app.sweep import run as sweeping
from cnnrun.app.sweep.results import collect as collect_sweep
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import folder as runs

CONFIRM = "confirm"


@dataclass
class SearchRequest:
    """What `cnnrun search` was asked for (see its `--help`)."""

    config: Path | None = None
    sets: list[str] = field(default_factory=list)
    trials: int | None = None
    jobs: int = 1
    runs_dir: Path = Path("runs")
    name: str | None = None
    resume: Path | None = None
    join: Path | None = None
    storage: str | None = None
    confirm_seeds: int | None = None


@dataclass
class SearchOutcome:
    code: int
    search_dir: Path
    results: dict = field(default_factory=dict)
    figure: Path | None = None
    best_config: Path | None = None
    complete: bool = True
    confirm: dict | None = None


def _new(req: SearchRequest) -> tuple[Path, search_plan.SearchPlan]:
    assert req.config is not None
    require_dir_or_new(req.runs_dir, "a folder for the search folder (--runs-dir)")
    plan = search_plan.new_plan(req.config, req.sets, req.trials, "")
    plan.storage = req.storage
    search.require_optuna()
    if req.storage is not None:
        search.storage(Path("."), plan)  # a storage that does not open: exit 2, no folder
    tracked = sweeping.check_tracking(req.config, req.sets, req.runs_dir)
    search_dir = runs.create_run_dir(req.runs_dir, f"search-{req.name or req.config.stem}")
    plan.study_name = search_dir.name
    if tracked:
        plan.mlflow = sweeping.tracking_parent(
            req.config, req.sets, req.runs_dir, search_dir.name, "search"
        )
    if plan.mlflow is not None:  # every trial logs to the same store, as a child
        where = {
            "tracking_uri": plan.mlflow["tracking_uri"],
            "experiment": plan.mlflow["experiment"],
        }
        plan.sets = [*plan.sets, sweep.set_line("logging.mlflow", where)]
    search_plan.write_plan(search_dir, plan)
    return search_dir, plan


def _open(req: SearchRequest) -> tuple[Path, search_plan.SearchPlan]:
    """The search folder and its plan: a new one, or the one to resume or join."""
    if sum(x is not None for x in (req.config, req.resume, req.join)) != 1:
        raise UserError(
            Problem("give exactly one of CONFIG, --resume SEARCH_DIR or --join SEARCH_DIR")
        )
    if req.config is not None:
        return _new(req)
    search_dir = Path(req.resume or req.join)  # type: ignore[arg-type]
    plan = search_plan.read_plan(search_dir)
    cfg = Path(plan.config)
    if not cfg.is_file() or sweep.file_sha256(cfg) != plan.config_sha256:
        raise UserError(
            Problem(
                f"the search's config {cfg} is missing or changed since the search started; "
                "its trials would not be one experiment",
                file=str(search_dir),
                hint="restore the config, or start a new search",
            )
        )
    if req.trials is not None and req.trials != plan.trials:
        plan.trials = req.trials
        search_plan.write_plan(search_dir, plan)
    return search_dir, plan


def _execute(study: Any, store: Any, search_dir: Path, plan: search_plan.SearchPlan,
             req: SearchRequest, reporter: Any, say: Callable[[str], None]) -> bool:  # fmt: skip
    say(f"{search.taken(study)} of {plan.trials} trials taken, {req.jobs} worker(s)")
    if req.jobs == 1:
        return search.work(study, store, search_dir, plan, reporter, say)
    seen: set[int] = set()

    def poll() -> None:
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in seen and not t.user_attrs.get("requeued"):
                seen.add(t.number)
                say(search.trial_line(study, t.number, plan))

    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished():
            seen.add(t.number)
    return trials.spawn_workers("search", search_dir, req.jobs, poll, say)


def _finish(
    study: Any, search_dir: Path, plan: search_plan.SearchPlan, joined: bool,
    say: Callable[[str], None],
) -> SearchOutcome:  # fmt: skip
    results = search_results.collect(search_dir, plan, study)
    best = search_results.write_best(search_dir, results["best"]) if results["best"] else None
    figure = search_results.draw(results, search_dir / search_results.FIGURE, search_dir.name)
    plan.results = results
    search_plan.write_plan(search_dir, plan)
    if plan.mlflow is not None and not joined:  # a joining worker leaves that to the search
        from cnnrun.tracking.tracker import end_parent

        files = [search_dir / runs.SEARCH, figure, *([best] if best else [])]
        end_parent(plan.mlflow["tracking_uri"], plan.mlflow["run_id"], files, say)
    done = results["counts"].get("completed", 0)
    return SearchOutcome(EXIT_OK if done else EXIT_FAILED, search_dir, results, figure, best)


def confirm(best: Any, search_dir: Path, plan: search_plan.SearchPlan, seeds: int, jobs: int,
            reporter: Any, say: Callable[[str], None]) -> dict:  # fmt: skip
    """Train the best trial (Optuna's `study.best_trial`) and the starting config at `seeds`
    seeds (a sweep in `confirm/`), and compare them with the sweep's test."""
    values = {k: plan.param(k).choices[v] if search_plan.indexed(plan.param(k)) else v  # type: ignore[index]
              for k, v in best.params.items()}  # fmt: skip
    folder = search_dir / CONFIRM
    if (folder / runs.SWEEP).is_file():
        splan = sweep.read_plan(folder)
    else:
        planned = sweep.expand(plan.seed, {}, {"start": {}, "best": values}, seeds)
        base = plan.trial_sets({})
        planned = [replace(r, sets=(*base, *r.sets)) for r in planned]
        folder.mkdir()
        splan = sweep.new_plan(Path(plan.config), planned)
        sweep.write_plan(folder, splan)
    say(f"confirming: the best trial and the start at {seeds} seeds each, in {folder}")
    complete, _ = sweeping.execute(folder, splan, jobs, reporter, say)
    splan.results = collect_sweep(folder, splan)
    sweep.write_plan(folder, splan)
    return {"folder": str(folder), "complete": complete, **_verdict(splan.results)}


def _verdict(results: dict) -> dict:
    score = results.get("score") or "score"
    pair = next(iter(results.get("comparisons") or []), None)
    if pair is None or pair["p"] is None:
        return {"verdict": "no comparison: it takes 2 or more seeds of each", "results": results}
    best_minus_start = pair["difference"] if pair["a"] == "best" else -pair["difference"]
    higher = "loss" not in score
    better = best_minus_start > 0 if higher else best_minus_start < 0
    p, diff = f"p = {pair['p']:.2g}", f"{best_minus_start:+.4f}"
    if pair["significant"] and better:
        text = f"the best trial beats the start on {score} by {diff}, beyond the seed noise ({p})"
    elif pair["significant"]:
        text = f"the start beats the best trial on {score} at these seeds ({diff}, {p})"
    else:
        text = (
            f"the best trial does not beat the start on {score} beyond the seed noise "
            f"(difference {diff}, {p})"
        )
    return {"verdict": text, "beats_start": bool(pair["significant"] and better),
            "difference": best_minus_start, "p": pair["p"], "results": results}  # fmt: skip


def run_search(req: SearchRequest, reporter: Any, say: Callable[[str], None]) -> SearchOutcome:
    """Plan (or reopen) a search, run workers to its trial count, and collect its results."""
    search_dir, plan = _open(req)
    if req.config is not None:
        say(f"search folder: {search_dir}")
    # one study for this process: its sampler seeded when this process is the only worker
    study, store = search.open_study(search_dir, plan, solo=req.jobs == 1 and req.join is None)
    complete = _execute(study, store, search_dir, plan, req, reporter, say)
    outcome = _finish(study, search_dir, plan, req.join is not None, say)
    outcome.complete = complete
    if not complete:
        outcome.code = EXIT_INTERRUPTED
        return outcome
    if req.confirm_seeds and outcome.results.get("best"):
        outcome.confirm = confirm(study.best_trial, search_dir, plan, req.confirm_seeds,
                                  req.jobs, reporter, say)  # fmt: skip
        if not outcome.confirm["complete"]:
            outcome.code = EXIT_INTERRUPTED
    return outcome
