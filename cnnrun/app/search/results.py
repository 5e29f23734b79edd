"""A search's results: the table of trials, the best trial's config, importances, `search.png`.

Example:
    ```python
    results = collect(search_dir, plan, study)
    results["best"]["run_name"], results["counts"]  # ('trial-004', {'completed': 5, ...})
    ```
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cnnrun import atomic
from cnnrun.app.search.plan import SearchPlan, indexed
from cnnrun.app.study import records
from cnnrun.app.study.liveness import retried

BEST_CONFIG, FIGURE = "best.yaml", "search.png"
STATUS = {
    "COMPLETE": "completed",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}


def _shown(plan: SearchPlan, key: str, value: Any) -> Any:
    """A trial's parameter as the table shows it: a list choice by its index, `#2`."""
    return f"#{value}" if indexed(plan.param(key)) else value


def row_of(t: Any, plan: SearchPlan) -> dict[str, Any]:
    """One trial as a row: number, run name and folder, parameters, value, status, epochs."""
    run_dir = t.user_attrs.get("run_dir")
    epochs, seconds = None, None
    summary = records.summary_of(t)  # kept in the study; a search from before, its folder
    if summary is not None:
        epochs, seconds = summary.epochs_run, summary.timings.fit_s
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    if t.state.name == "PRUNED" and t.intermediate_values:  # its last reported value
        value = t.intermediate_values[max(t.intermediate_values)]
    return {
        "number": t.number,
        "run_name": t.user_attrs.get("run_name", f"trial-{t.number:03d}"),
        "run_dir": run_dir,
        "params": {
            k: _shown(plan, k, v)
            for k, v in (t.params or t.user_attrs.get("queued_params") or {}).items()
        },
        "value": value,
        "status": STATUS.get(t.state.name, t.state.name.lower()),
        "epochs": epochs,
        "seconds": seconds,
        "reason": t.user_attrs.get("reason", ""),
        "worker": t.user_attrs.get("worker"),
        "resumes": t.user_attrs.get("resumes"),
    }


def rows(study: Any, plan: SearchPlan) -> list[dict[str, Any]]:
    """Every trial but the ones queued again (their retry stands for them) and the surplus
    ones a worker asked for past the count."""
    trials = study.get_trials(deepcopy=False)
    gone = retried(trials)
    return [
        row_of(t, plan) for t in trials if t.number not in gone and not t.user_attrs.get("surplus")
    ]


def write_best(search_dir: Path, best: dict, study: Any) -> Path | None:
    """The best trial's resolved config as `best.yaml`: trainable as it is. It comes from
    the study, so a reader without the run folders writes it too."""
    import yaml

    cfg = records.config_of(study.get_trials(deepcopy=False)[best["number"]])
    if cfg is None:
        return None
    cfg.pop("search", None)
    cfg.pop("sweep", None)
    cfg["name"] = f"{search_dir.name.partition('_')[2] or 'search'}-best"[:64]
    head = f"# the best trial of {search_dir}: {best['run_name']} ({best['value']})\n"
    atomic.write_text(search_dir / BEST_CONFIG, head + yaml.safe_dump(cfg, sort_keys=False))
    return search_dir / BEST_CONFIG


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA); empty while too few trials have finished."""
    import optuna
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2 or not any(
        len({str(t.params.get(k)) for t in done}) > 1 for k in done[0].params
    ):
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # Optuna's own refusals: too few distinct values
        return {}


def collect(search_dir: Path, plan: SearchPlan, study: Any) -> dict[str, Any]:
    """The results `search.json` keeps: trials, counts, best trial, importances."""
    table = rows(study, plan)
    counts: dict[str, int] = {}
    for r in table:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    done = [r for r in table if r["status"] == "completed" and r["value"] is not None]
    best = None
    if done:
        pick = min if plan.direction == "minimize" else max
        best = pick(done, key=lambda r: r["value"])
    return {
        "metric": plan.metric,
        "direction": plan.direction,
        "trials": table,
        "counts": counts,
        "best": best,
        "importances": importances(study),
    }
