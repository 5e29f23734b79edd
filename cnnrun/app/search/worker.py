"""What a search's worker does with a trial: its values suggested, its run (new, or resumed in
its own folder), each epoch reported to the pruner, and its line in the progress.

The worker itself, shared with sweeps, is `cnnrun.app.study.worker`.

Example:
    ```python
    study, store = open_study(search_dir, plan, solo=True)
    work(study, store, job(search_dir, plan), NullReporter(), print)
    ```
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun.analysis.search_figure import short
from cnnrun.app.search.plan import SearchPlan
from cnnrun.app.search.results import row_of
from cnnrun.app.search.study import suggest
from cnnrun.app.study.liveness import retried
from cnnrun.app.study.worker import SURPLUS, Job
from cnnrun.app.train import TrainRequest
from cnnrun.runs.names import CONFIG
from cnnrun.runs.summary import RunSummary


@dataclass
class Pruning:
    """An engine observer: reports each epoch's monitored value, asks the pruner."""

    trial: Any
    metric: str

    def begin(self, summary: RunSummary) -> None:
        pass

    def epoch(self, row: dict[str, float]) -> bool:
        value = row.get(self.metric, math.nan)
        if not math.isfinite(value):
            return False
        self.trial.report(value, int(row["epoch"]))
        return bool(self.trial.should_prune())


def _request(trial: Any, plan: SearchPlan, search_dir: Path) -> TrainRequest:
    """The run of a trial: resumed in its own folder if it was queued again and that folder
    is here, else new (a worker on another machine runs it again from its start)."""
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


def job(search_dir: Path, plan: SearchPlan) -> Job:
    """A search worker's job: sampled trials up to the count, run folders in `search_dir`."""
    return Job(
        search_dir,
        lambda trial: _request(trial, plan, search_dir),
        plan.trials,
        lambda study, number: trial_line(study, number, plan),
    )


def trial_line(study: Any, number: int, plan: SearchPlan) -> str:
    """One finished trial, for the progress lines."""
    trials = study.get_trials(deepcopy=False)
    row = row_of(trials[number], plan)
    value = f"{plan.metric} {row['value']:.4f}" if row["value"] is not None else row["reason"]
    gone = retried(trials)
    done = sum(
        1
        for t in trials
        if t.state.is_finished() and t.number not in gone and not t.user_attrs.get(SURPLUS)
    )
    params = ", ".join(
        f"{short(k)} {v:.4g}" if isinstance(v, float) else f"{short(k)} {v}"
        for k, v in row["params"].items()
    )
    return f"[{done}/{plan.trials}] {row['run_name']} {row['status']}: {value} ({params})"
