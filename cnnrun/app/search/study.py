"""A search's Optuna study: its storage, sampler and pruner, the trials' values, and the trials
left running by a worker that died.

A search folder holds `search.json` (the plan: the config, its space, the trial count, where
the study lives, and once collected, the results), the study itself (Optuna's journal file
storage, `study.journal`, unless `--storage` names another), and one ordinary run folder per
trial. Workers (`cnnrun.app.search.worker`) ask Optuna for a trial, train it in their own
process, report each epoch's monitored value to the pruner and tell the study how it ended.

The journal storage has no heartbeat, so each worker holds a lock file per running trial
(`locks/trial-N.lock`); a trial left `RUNNING` whose lock nobody holds belonged to a worker
that died, and the next worker to start marks it failed and queues it again, to resume in its
own run folder. Taking a trial and checking for dead ones happen under one folder lock, so
two workers never take the same trial or run past the count.

Example:
    ```python
    study, store = open_study(search_dir, plan, solo=True)
    requeue_dead(study, store, search_dir)  # the numbers of the trials queued again
    ```
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.app.search import journal
from cnnrun.app.search.plan import SearchPlan, grid_values, indexed
from cnnrun.errors import Problem, UserError
from cnnrun.runs import names
from cnnrun.runs.locks import claim, folder_lock

JOURNAL = "study.journal"
STUDY_LOCK = "study.lock"
# the storage's password for a resumed search or a worker: search.json keeps none
STORAGE_PASSWORD = "CNNRUN_STORAGE_PASSWORD"


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


def _mend_journal(search_dir: Path) -> None:
    """Check the journal before this process writes to it; repair a torn last line only
    while no worker is alive: under the study lock (held by a worker taking a trial) and
    with no trial's lock held (held by a worker training one)."""
    path = search_dir / JOURNAL
    if journal.check(path) is None:
        return
    with folder_lock(search_dir / STUDY_LOCK), ExitStack() as stack:
        locks = sorted((search_dir / names.LOCKS).glob("trial-*.lock"))
        if all(stack.enter_context(claim(lock)) for lock in locks):
            journal.repair(path)


def storage(search_dir: Path, plan: SearchPlan) -> Any:
    """The study's Optuna storage: the journal file in the folder, or `plan.storage`."""
    optuna = require_optuna()
    if plan.storage is None:
        from optuna.storages.journal import JournalFileBackend

        _mend_journal(search_dir)
        return optuna.storages.JournalStorage(JournalFileBackend(str(search_dir / JOURNAL)))
    secret = os.environ.get(STORAGE_PASSWORD)
    url = urls.with_password(plan.storage, secret) if secret else plan.storage
    try:
        return optuna.storages.get_storage(url)
    except Exception as e:  # a bad URL, a database that does not answer, a refused password
        reason = urls.hide(f"{type(e).__name__}: {str(e).strip().splitlines()[0]}", url)
        hint = None
        if urls.password(url) is None and urls.username(url) is not None:
            hint = (
                f"cnnrun keeps no password: give it in {STORAGE_PASSWORD}, or where the "
                "driver looks (PGPASSWORD or ~/.pgpass for PostgreSQL)"
            )
        raise UserError(
            Problem(f"Optuna cannot open this storage: {reason}", file=urls.masked(url), hint=hint)
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


def open_study(
    search_dir: Path, plan: SearchPlan, solo: bool = False, resuming: bool = False
) -> tuple[Any, Any]:
    """The search's study, created on first use, and its storage; every worker opens the
    same one. A search resumed or joined from a storage that does not hold its study is
    refused: a new, empty one would run every trial again (a journal in the folder is
    always the search's own)."""
    optuna = require_optuna()
    store = storage(search_dir, plan)
    try:
        done = len(store.get_all_trials(store.get_study_id_from_name(plan.study_name)))
    except KeyError:  # the study is created below
        if resuming and plan.storage is not None:
            raise UserError(
                Problem(
                    f"this storage holds no study named {plan.study_name!r}, the search's own",
                    file=urls.masked(plan.storage),
                    hint="resume with the storage the search was started with (search.json)",
                )
            ) from None
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


def lock_of(search_dir: Path, number: int) -> Path:
    """The lock file a worker holds while it trains trial `number`."""
    return search_dir / names.LOCKS / f"trial-{number}.lock"


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
        with claim(lock_of(search_dir, t.number)) as free:
            if free:
                dead.append(t)
    for t in dead:
        requeue(study, store, t)
    return [t.number for t in dead]
