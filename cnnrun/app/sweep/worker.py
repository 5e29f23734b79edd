"""What a sweep's worker does with a trial: its run (new, or resumed in its folder where that
folder is here), and its line in the progress.

The worker itself, shared with searches, is `cnnrun.app.study.worker`.

Example:
    ```python
    study, store = open_study(sweep_dir, plan)
    work(study, store, job(sweep_dir, plan), NullReporter(), print)
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnrun.app.study import records
from cnnrun.app.study.worker import Job
from cnnrun.app.sweep import plan as sweeps
from cnnrun.app.train import TrainRequest
from cnnrun.runs.names import CONFIG


def _request(trial: Any, sweep_dir: Path, plan: sweeps.SweepPlan) -> TrainRequest:
    """How to train a run: resumed in its folder where it has one here, else new."""
    name = trial.user_attrs["run_name"]
    parent = (plan.mlflow or {}).get("run_id")
    run_dir = trial.user_attrs.get("run_dir")
    if not (run_dir and (Path(run_dir) / CONFIG).is_file()):
        run_dir, _ = sweeps.find_runs(sweep_dir, only=name).get(name, (None, None))
    if run_dir is not None:
        return TrainRequest(resume=Path(run_dir), tracking_parent=parent)
    return TrainRequest(
        config=Path(plan.config),
        overrides=tuple(trial.user_attrs["sets"]),
        runs_dir=sweep_dir,
        name=name,
        tracking_parent=parent,
    )


def _line(study: Any, number: int, total: int) -> str:
    """One finished run, for the progress lines."""
    trials = study.get_trials(deepcopy=False)
    t = trials[number]
    summary = records.summary_of(t)
    status, detail = t.state.name.lower(), ""
    if summary is not None:
        status = summary.status
        if summary.best_value is not None:
            detail = f": best {summary.monitor} {summary.best_value:.4f}"
        if summary.test.get("test_accuracy") is not None:
            detail += f", test_accuracy {summary.test['test_accuracy']:.4f}"
        seconds = summary.timings.fit_s or 0.0
        detail = f" in {seconds:.0f} s{detail}"
    done = sum(1 for x in trials if x.state.name == "COMPLETE")
    reason = t.user_attrs.get("reason")
    tail = f"\n  {reason}" if reason and status != "completed" else ""
    return f"[{done}/{total}] {t.user_attrs.get('run_name')} {status}{detail}{tail}"


def job(sweep_dir: Path, plan: sweeps.SweepPlan) -> Job:
    """A sweep worker's job: the queued runs only, run folders in `sweep_dir`."""
    total = len(plan.runs)
    return Job(
        sweep_dir,
        lambda trial: _request(trial, sweep_dir, plan),
        0,
        lambda study, number: _line(study, number, total),
    )
