"""`cnnrun search --confirm-seeds N`: the best of many noisy trials is partly luck, so the
best trial and the starting config are trained again at N seeds each (a sweep in the search
folder's `confirm/`), and the sweep's test says whether the best beats the start beyond the
seed noise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cnnrun.app.search.plan import SearchPlan, indexed
from cnnrun.app.study.storage import JOURNAL
from cnnrun.app.sweep import plan as sweeps
from cnnrun.app.sweep.results import collect
from cnnrun.app.sweep.run import Launch, execute
from cnnrun.runs import names
from cnnrun.runs.events import Reporter

CONFIRM = "confirm"


def confirm(
    best: Any,
    search_dir: Path,
    plan: SearchPlan,
    seeds: int,
    jobs: int,
    reporter: Reporter,
    say: Callable[[str], None],
) -> dict:
    """Train the best trial (Optuna's `study.best_trial`) and the starting config at `seeds`
    seeds (a sweep in `confirm/`), and compare them with the sweep's test."""
    values = {k: _value(plan, k, v) for k, v in best.params.items()}
    folder = search_dir / CONFIRM
    if (folder / names.SWEEP).is_file():
        splan = sweeps.read_plan(folder)
        splan.study_name = splan.study_name or f"{search_dir.name}-{CONFIRM}"
    else:
        planned = sweeps.expand(plan.seed, {}, {"start": {}, "best": values}, seeds)
        base = plan.trial_sets({})
        planned = [replace(r, sets=(*base, *r.sets)) for r in planned]
        folder.mkdir()
        splan = sweeps.new_plan(Path(plan.config), planned)
        splan.study_name = f"{search_dir.name}-{CONFIRM}"  # in the confirm folder's journal
        sweeps.write_plan(folder, splan)
    say(f"confirming: the best trial and the start at {seeds} seeds each, in {folder}")
    fresh = splan.results == {} and not (folder / JOURNAL).is_file()
    complete, found = execute(folder, splan, Launch(jobs, "local", None, reporter, say), fresh)
    splan.results = collect(splan, found)
    sweeps.write_plan(folder, splan)
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
    return {
        "verdict": text,
        "beats_start": bool(pair["significant"] and better),
        "difference": best_minus_start,
        "p": pair["p"],
        "results": results,
    }


def _value(plan: SearchPlan, key: str, value: Any) -> Any:
    """A trial's parameter as the config takes it: a list choice from its index."""
    p = plan.param(key)
    return p.choices[value] if indexed(p) and p.choices is not None else value
