"""A sweep's results: per-variant means over seeds, and which variants beat the seed noise.

The runs are read from the study (each trial keeps its run's summary and history), so a
machine without the run folders collects them too; runs the study does not know (trained by
hand from `--print-commands`, or in a folder from before the study) from the sweep folder.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnrun.analysis import stats
from cnnrun.app.study import records
from cnnrun.app.study.liveness import retried
from cnnrun.app.sweep.plan import SweepPlan, SweepRun, find_runs, score
from cnnrun.runs import folder as runs
from cnnrun.runs.summary import RunSummary


@dataclass(frozen=True)
class Found:
    """One run of the sweep as found: its folder (None where it is not here), its summary,
    and how to read its history."""

    run_dir: str | None
    summary: RunSummary
    history: Callable[[], dict[str, list[float]]]


def in_folder(sweep_dir: Path) -> dict[str, Found]:
    """The runs a sweep folder holds, by run name."""
    if not sweep_dir.is_dir():
        return {}
    return {
        name: Found(str(d), s, lambda d=d: runs.read_history(d))
        for name, (d, s) in find_runs(sweep_dir).items()
    }


def in_study(study: Any) -> dict[str, Found]:
    """The runs a sweep's study holds, by run name: each one's last trial that stands."""
    trials = study.get_trials(deepcopy=False)
    gone = retried(trials)
    out = {}
    for t in trials:
        summary = records.summary_of(t) if t.number not in gone else None
        if summary is not None and t.user_attrs.get("run_name"):
            dir_ = t.user_attrs.get("run_dir")
            out[t.user_attrs["run_name"]] = Found(dir_, summary, lambda t=t: records.history_of(t))
    return out


def collect(plan: SweepPlan, found: dict[str, Found]) -> dict:
    """Per-variant results of the completed runs, and which variants differ beyond seed noise.

    Returns a dict (also stored in `sweep.json` under `results`): `variants` (name, seeds done,
    mean and std of the best monitored value and of the score, verdicts, run folders),
    `comparisons` (Welch's t-test on the score for every pair of variants, Holm-corrected),
    and counts of runs by status.
    """
    by_variant: dict[str, list[tuple[SweepRun, str | None, RunSummary]]] = {}
    status: dict[str, int] = {}
    for r in plan.runs:
        f = found.get(r.name)
        st = f.summary.status if f is not None else "missing"
        status[st] = status.get(st, 0) + 1
        by_variant.setdefault(r.variant, [])
        if st == "completed" and f is not None:
            by_variant[r.variant].append((r, f.run_dir, f.summary))
    variants = []
    score_name = None
    scores: dict[str, list[float]] = {}
    for name, done in by_variant.items():
        best = [float(s.best_value) for _, _, s in done if s.best_value is not None]
        sc = [score(s) for _, _, s in done]
        score_name = score_name or (sc[0][0] if sc else None)
        scores[name] = [v for _, v in sc]
        (bm, bs), (sm, ss) = stats.mean_std(best), stats.mean_std(scores[name])
        verdicts: dict[str, int] = {}
        for _, _, s in done:
            v = s.verdict or "unknown"
            verdicts[v] = verdicts.get(v, 0) + 1
        variants.append(
            {
                "variant": name,
                "seeds_done": len(done),
                "seeds_planned": sum(1 for r in plan.runs if r.variant == name),
                "monitor": done[0][2].monitor if done else None,
                "best_mean": bm,
                "best_std": bs,
                "score_mean": sm,
                "score_std": ss,
                "verdicts": verdicts,
                "run_dirs": [d for _, d, _ in done],
                "run_names": [r.name for r, _, _ in done],
            }
        )
    pairs = list(itertools.combinations(scores, 2))
    tests = [stats.welch(scores[a], scores[b]) for a, b in pairs]
    significant = stats.holm([t.p for t in tests])
    comparisons = [
        {
            "a": a,
            "b": b,
            "difference": stats.mean_std(scores[a])[0] - stats.mean_std(scores[b])[0],
            "t": t.t,
            "df": t.df,
            "p": t.p,
            "significant": sig,
        }
        for (a, b), t, sig in zip(pairs, tests, significant, strict=True)
    ]
    return records.finite(
        {
            "collected": datetime.now().isoformat(timespec="seconds"),
            "score": score_name,
            "test": f"Welch's two-sided t-test on {score_name} per pair of variants, "
            f"Holm-Bonferroni corrected, family-wise alpha {stats.ALPHA}",
            "status": status,
            "variants": variants,
            "comparisons": comparisons,
        }
    )


def histories(found: dict[str, Found], results: dict) -> dict[str, list[dict[str, list[float]]]]:
    """Each variant's completed runs' histories, for the mean-and-band curves."""
    out = {}
    for v in results.get("variants", []):
        got = [found[n].history() for n in v.get("run_names", []) if n in found]
        if any(got):
            out[v["variant"]] = [h for h in got if h]
    return out
