"""A sweep's Optuna study: its runs (variants x seeds) enqueued in order, so that workers pop
them atomically from any storage, the same workers as a search's (`cnnrun.app.study`).

A sweep folder made before the study (`sweep.json` version 1, runs claimed by lock files), or
by `--print-commands` (runs trained by hand), gets its study when it is resumed: each run
completed in the folder enters it as a finished trial, each other one is queued, to resume in
its folder where it has one.

Example:
    ```python
    study, store = open_study(sweep_dir, plan)
    fill(study, sweep_dir, plan)  # once, for a new sweep or an older folder
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnrun.app.study import records
from cnnrun.app.study.storage import open_storage, require_optuna, trials_so_far
from cnnrun.app.sweep.plan import SweepPlan, SweepRun, find_runs


def open_study(sweep_dir: Path, plan: SweepPlan, resuming: bool = False) -> tuple[Any, Any]:
    """The sweep's study, created on first use, and its storage (`trials_so_far` refuses a
    resumed sweep's storage without its study)."""
    optuna = require_optuna("sweep")
    store = open_storage(sweep_dir, plan.storage, plan.heartbeat_s)
    trials_so_far(store, plan.study_name, plan.storage, "sweep", resuming)
    study = optuna.create_study(
        study_name=plan.study_name,
        storage=store,
        sampler=optuna.samplers.RandomSampler(),  # never asked: every run is queued
        direction=plan.direction,
        load_if_exists=True,
    )
    return study, store


def queued_attrs(run: SweepRun) -> dict[str, Any]:
    """What a sweep's trial carries from its queue: its run's name, variant, seed, overrides."""
    return {"run_name": run.name, "variant": run.variant, "seed": run.seed, "sets": list(run.sets)}


def fill(study: Any, sweep_dir: Path, plan: SweepPlan) -> None:
    """Put every run of the plan into an empty study, in order: completed ones (from an older
    folder) as finished trials, the others queued."""
    import optuna

    if study.get_trials(deepcopy=False):
        return
    found = find_runs(sweep_dir)
    for run in plan.runs:
        attrs = queued_attrs(run)
        run_dir, summary = found.get(run.name, (None, None))
        if run_dir is not None:
            attrs.update(records.attrs_of(run_dir))
        if summary is not None and summary.status == "completed" and summary.best_value is not None:
            done = optuna.trial.create_trial(value=float(summary.best_value), user_attrs=attrs)
            study.add_trial(done)
        else:
            study.enqueue_trial({}, user_attrs=attrs)
