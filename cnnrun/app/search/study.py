"""Hyperparameter searches on Optuna: trials as normal runs, pruning, workers sharing a study.

A search folder holds `search.json` (the plan: the config, its space, the trial count, where
the study lives, and once collected, the results), the study itself (Optuna's journal file
storage, `study.journal`, unless `--storage` names another), and one ordinary run folder per
trial. Workers (`cnnrun.app.workers`) ask Optuna for a trial, train it in their own process,
report each epoch's monitored value to the pruner and tell the study how it ended.

The journal storage has no heartbeat, so each worker holds a lock file per running trial
(`locks/trial-N.lock`); a trial left `RUNNING` whose lock nobody holds belonged to a worker
that died, and the next worker to start marks it failed and queues it again, to resume in its
own run folder. Taking a trial and checking for dead ones happen under one folder lock, so
two workers never take the same trial or run past the count.

Example:
    >>> study, store = open_study(search_dir, plan, solo=True)
    >>> work(study, store, search_dir, plan, reporter, print)   # one worker, to the count
    True
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun.app import workers as trials
from cnnrun.app.search.plan import SearchPlan, grid_values, indexed
from cnnrun.app.train import TrainRequest
from cnnrun.errors import EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.runs.folder import claim
from cnnrun.runs.summary import RunSummary

JOURNAL = "study.journal"
STUDY_LOCK = "study.lock"


# ---- the study ------------------------------------------------------------------------------


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError(
            Problem(
                "cnnrun search needs the search extra (Optuna), which is not installed",
                hint="pip install 'cnnrun[search]'",
            )
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # cnnrun reports trials itself
    return optuna


def storage(search_dir: Path, plan: SearchPlan) -> Any:
    """The study's Optuna storage: the journal file in the folder, or `plan.storage`."""
    optuna = require_optuna()
    if plan.storage is None:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(search_dir / JOURNAL)))
    try:
        return optuna.storages.get_storage(plan.storage)
    except Exception as e:  # a bad URL, a database that does not answer
        raise UserError(
            Problem(
                f"Optuna cannot open this storage: {type(e).__name__}: {e}", file=plan.storage
            )  # fmt: skip
        ) from None


def _sampler(plan: SearchPlan, solo: bool, done: int) -> Any:
    import optuna

    # One worker alone is reproducible from the config's seed, moved on by the trials already
    # in the study (a resumed search must not draw its first points again); several workers
    # must not draw the same points, so each seeds from the system.
    seed = plan.seed + done if solo else None
    if plan.sampler == "grid":

        class AskTellGrid(optuna.samplers.GridSampler):
            # Optuna's grid sampler calls `study.stop()` once its grid is done, which only
            # `study.optimize` allows; here the trial count stops the workers.
            def after_trial(self, *args: Any) -> None:
                pass

        space = {k: grid_values(k, plan.param(k)) for k in plan.space}
        return AskTellGrid(space, seed=seed)
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(plan: SearchPlan) -> Any:
    import optuna

    p = plan.pruner
    if p["name"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p["startup_trials"], n_warmup_steps=p["warmup_epochs"]
        )
    if p["name"] == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, p["warmup_epochs"]), max_resource=plan.epochs
        )
    return optuna.pruners.NopPruner()


def open_study(search_dir: Path, plan: SearchPlan, solo: bool = False) -> tuple[Any, Any]:
    """The search's study, created on first use, and its storage; every worker opens the
    same one."""
    optuna = require_optuna()
    store = storage(search_dir, plan)
    try:
        done = len(store.get_all_trials(store.get_study_id_from_name(plan.study_name)))
    except KeyError:  # the study is created below
        done = 0
    study = optuna.create_study(
        study_name=plan.study_name,
        storage=store,
        sampler=_sampler(plan, solo, done),
        pruner=_pruner(plan),
        direction=plan.direction,
        load_if_exists=True,
    )
    return study, store


def suggest(trial: Any, plan: SearchPlan) -> dict[str, Any]:
    """The trial's value for every key of the space (choices' values, not their indices)."""
    values = {}
    for key in plan.space:
        p = plan.param(key)
        if p.choices is not None:
            if indexed(p):
                values[key] = p.choices[trial.suggest_categorical(key, list(range(len(p.choices))))]
            else:
                values[key] = trial.suggest_categorical(key, p.choices)
        elif p.is_int:
            values[key] = trial.suggest_int(key, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            values[key] = trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)
    return values


def _lock(search_dir: Path, number: int) -> Path:
    return search_dir / trials.LOCKS / f"trial-{number}.lock"


def taken(study: Any) -> int:
    """Trials that count towards the total: finished, pruned, failed by their own doing, and
    running. Interrupted ones (queued again) do not."""
    from optuna.trial import TrialState

    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        or (t.state == TrialState.FAIL and not t.user_attrs.get("requeued"))
    )


def requeue(study: Any, store: Any, trial: Any) -> None:
    """Mark a trial that will not finish (its worker died or was stopped) failed, and queue
    its values again so that a worker resumes it in its own run folder."""
    from optuna.trial import TrialState

    trial_id = store.get_trial_id_from_study_id_trial_number(
        store.get_study_id_from_name(study.study_name), trial.number
    )
    store.set_trial_user_attr(trial_id, "requeued", True)
    store.set_trial_state_values(trial_id, state=TrialState.FAIL)
    attrs = {k: v for k, v in trial.user_attrs.items() if k in ("run_name", "run_dir")}
    # the values again as a user attribute: a queued trial shows its params only once it runs
    attrs.update(resumes=trial.number, queued_params=trial.params)
    study.enqueue_trial(trial.params, user_attrs=attrs)


def requeue_dead(study: Any, store: Any, search_dir: Path) -> list[int]:
    """Queue again every RUNNING trial whose lock no worker holds; their numbers."""
    from optuna.trial import TrialState

    dead = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        with claim(_lock(search_dir, t.number)) as free:
            if free:
                dead.append(t)
    for t in dead:
        requeue(study, store, t)
    return [t.number for t in dead]


@dataclass
class Pruning:
    """An engine observer: reports each epoch's monitored value, asks the pruner."""

    trial: Any
    metric: str

    def begin(self, summary: RunSummary) -> None:
        self.trial.set_user_attr("run_dir", str(summary.run_dir))

    def epoch(self, row: dict[str, float]) -> bool:
        value = row.get(self.metric, math.nan)
        if not math.isfinite(value):
            return False
        self.trial.report(value, int(row["epoch"]))
        return bool(self.trial.should_prune())


def _request(trial: Any, plan: SearchPlan, search_dir: Path) -> TrainRequest:
    """The run of a trial: resumed in its own folder if it was queued again, else new."""
    values = suggest(trial, plan)  # a queued trial's values are fixed: this records them
    run_dir = trial.user_attrs.get("run_dir")
    if run_dir and (Path(run_dir) / "config.yaml").is_file():
        req = TrainRequest(resume=Path(run_dir))
    else:
        name = trial.user_attrs.get("run_name") or f"trial-{trial.number:03d}"
        trial.set_user_attr("run_name", name)
        req = TrainRequest(Path(plan.config), plan.trial_sets(values), search_dir, name)
    req.observers = [Pruning(trial, plan.metric)]
    req.tracking_parent = (plan.mlflow or {}).get("run_id")
    return req


def _take(
    study: Any, store: Any, search_dir: Path, plan: SearchPlan, stack: contextlib.ExitStack
) -> Any:
    """The next trial for this worker, its lock held by `stack`; None once the count is
    reached."""
    with trials.folder_lock(search_dir / STUDY_LOCK):
        requeue_dead(study, store, search_dir)
        if taken(study) >= plan.trials:
            return None
        trial = study.ask()
        stack.enter_context(claim(_lock(search_dir, trial.number)))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return trial


def _tell(study: Any, trial: Any, outcome: Any) -> None:
    from optuna.trial import TrialState

    summary = outcome.summary
    if outcome.code == EXIT_OK and summary is not None and summary.status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif outcome.code == EXIT_OK and summary is not None and summary.best_value is not None:
        study.tell(trial, float(summary.best_value))
    else:
        trial.set_user_attr("reason", (outcome.message or "failed")[:500])
        study.tell(trial, state=TrialState.FAIL)


def work(study: Any, store: Any, search_dir: Path, plan: SearchPlan, reporter: Any,
         say: Any) -> bool:  # fmt: skip
    """Be one worker of a search (`open_study`'s study and storage): take trials and train
    them here until the count is reached. Returns False if interrupted (the trial is queued
    again, to resume)."""
    with trials.sigterm_interrupts():
        while True:
            with contextlib.ExitStack() as stack:
                try:
                    trial = _take(study, store, search_dir, plan, stack)
                except KeyboardInterrupt:
                    return False
                if trial is None:
                    return True
                try:
                    outcome = trials.run_trial(_request(trial, plan, search_dir), reporter)
                except KeyboardInterrupt:
                    outcome = None
                if outcome is None or outcome.code == EXIT_INTERRUPTED:
                    requeue(study, store, study.get_trials(deepcopy=False)[trial.number])
                    return False
                _tell(study, trial, outcome)
                say(trial_line(study, trial.number, plan))


def trial_line(study: Any, number: int, plan: SearchPlan) -> str:
    """One finished trial, for the progress lines."""
    from cnnrun.app.search.results import row_of

    row = row_of(study.get_trials(deepcopy=False)[number], plan)
    value = f"{plan.metric} {row['value']:.4f}" if row["value"] is not None else row["reason"]
    done = sum(1 for t in study.get_trials(deepcopy=False)
               if t.state.is_finished() and not t.user_attrs.get("requeued"))  # fmt: skip
    params = ", ".join(f"{short(k)} {v:.4g}" if isinstance(v, float) else f"{short(k)} {v}"
                       for k, v in row["params"].items())  # fmt: skip
    return f"[{done}/{plan.trials}] {row['run_name']} {row['status']}: {value} ({params})"


def short(key: str) -> str:
    """A key's last two parts, for tables: `model.layers[2].dropout.rate` is `dropout.rate`."""
    parts = [p for p in key.replace("[", ".").replace("]", "").split(".") if not p.isdigit()]
    return ".".join(parts[-2:])
