"""A search's Optuna study: its sampler and pruner, opened on the search's storage, and the
values a trial suggests.

The storage, the workers and the liveness of trials are the sweep's too
(`cnnrun.app.study`).

Example:
    ```python
    study, store = open_study(search_dir, plan, solo=True)
    suggest(study.ask(), plan)  # {"train.optimizer.learning_rate": 0.003}
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnrun.app.search.plan import SearchPlan, grid_values, indexed
from cnnrun.app.study.storage import open_storage, require_optuna, trials_so_far


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
    same one (`trials_so_far` refuses a resumed search's storage without its study)."""
    optuna = require_optuna()
    store = open_storage(search_dir, plan.storage, plan.heartbeat_s)
    done = trials_so_far(store, plan.study_name, plan.storage, "search", resuming)
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


def enqueue_grid(study: Any, plan: SearchPlan) -> None:
    """Queue every point of a grid search in a new study, in the grid's order, up to the
    trial count: queued trials are popped atomically, so several workers never train one
    point twice (Optuna's grid sampler, asked by several workers at once, may)."""
    import itertools

    if plan.sampler != "grid" or study.get_trials(deepcopy=False):
        return
    space = {k: grid_values(k, plan.param(k)) for k in plan.space}
    points = itertools.product(*space.values())
    for values in itertools.islice(points, plan.trials):
        study.enqueue_trial(dict(zip(space, values, strict=True)))
