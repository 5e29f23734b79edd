"""One worker of a search: take a trial, train it here as a normal run folder, report each
epoch to the pruner, tell the study how it ended; until the trial count is reached.

Example:
    ```python
    study, store = open_study(search_dir, plan, solo=True)
    work(study, store, search_dir, plan, NullReporter(), print)  # True: not interrupted
    ```
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun.analysis.search_figure import short
from cnnrun.app import workers
from cnnrun.app.search.plan import SearchPlan
from cnnrun.app.search.results import row_of
from cnnrun.app.search.study import STUDY_LOCK, lock_of, requeue, requeue_dead, suggest, taken
from cnnrun.app.train import TrainRequest
from cnnrun.app.workers import TrialOutcome
from cnnrun.errors import EXIT_INTERRUPTED, EXIT_OK
from cnnrun.runs.events import Reporter
from cnnrun.runs.locks import claim, folder_lock
from cnnrun.runs.names import CONFIG
from cnnrun.runs.summary import RunSummary


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
    follow = {
        "observers": (Pruning(trial, plan.metric),),
        "tracking_parent": (plan.mlflow or {}).get("run_id"),
    }
    run_dir = trial.user_attrs.get("run_dir")
    if run_dir and (Path(run_dir) / CONFIG).is_file():
        return TrainRequest(resume=Path(run_dir), **follow)
    name = trial.user_attrs.get("run_name") or f"trial-{trial.number:03d}"
    trial.set_user_attr("run_name", name)
    sets = tuple(plan.trial_sets(values))
    return TrainRequest(
        config=Path(plan.config), overrides=sets, runs_dir=search_dir, name=name, **follow
    )


def _take(
    study: Any, store: Any, search_dir: Path, plan: SearchPlan, stack: contextlib.ExitStack
) -> Any:
    """The next trial for this worker, its lock held by `stack`; None once the count is
    reached."""
    with folder_lock(search_dir / STUDY_LOCK):
        requeue_dead(study, store, search_dir)
        if taken(study) >= plan.trials:
            return None
        trial = study.ask()
        stack.enter_context(claim(lock_of(search_dir, trial.number)))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return trial


def _tell(study: Any, trial: Any, outcome: TrialOutcome) -> None:
    from optuna.trial import TrialState

    summary = outcome.summary
    if outcome.code == EXIT_OK and summary is not None and summary.status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif outcome.code == EXIT_OK and summary is not None and summary.best_value is not None:
        study.tell(trial, float(summary.best_value))
    else:
        trial.set_user_attr("reason", (outcome.message or "failed")[:500])
        study.tell(trial, state=TrialState.FAIL)


def work(
    study: Any,
    store: Any,
    search_dir: Path,
    plan: SearchPlan,
    reporter: Reporter,
    say: Callable[[str], None],
) -> bool:
    """Be one worker of a search (`open_study`'s study and storage): take trials and train
    them here until the count is reached. Returns False if interrupted (the trial is queued
    again, to resume)."""
    with workers.sigterm_interrupts():
        while True:
            with contextlib.ExitStack() as stack:
                try:
                    trial = _take(study, store, search_dir, plan, stack)
                except KeyboardInterrupt:
                    return False
                if trial is None:
                    return True
                try:
                    outcome = workers.run_trial(_request(trial, plan, search_dir), reporter)
                except KeyboardInterrupt:
                    outcome = None
                if outcome is None or outcome.code == EXIT_INTERRUPTED:
                    requeue(study, store, study.get_trials(deepcopy=False)[trial.number])
                    return False
                _tell(study, trial, outcome)
                say(trial_line(study, trial.number, plan))


def trial_line(study: Any, number: int, plan: SearchPlan) -> str:
    """One finished trial, for the progress lines."""
    row = row_of(study.get_trials(deepcopy=False)[number], plan)
    value = f"{plan.metric} {row['value']:.4f}" if row["value"] is not None else row["reason"]
    done = sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and not t.user_attrs.get("requeued")
    )
    params = ", ".join(
        f"{short(k)} {v:.4g}" if isinstance(v, float) else f"{short(k)} {v}"
        for k, v in row["params"].items()
    )
    return f"[{done}/{plan.trials}] {row['run_name']} {row['status']}: {value} ({params})"
