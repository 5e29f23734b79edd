"""A sweep's results: per-variant means over seeds, and which variants beat the seed noise."""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnrun.analysis import stats
from cnnrun.app.sweep.plan import SweepPlan, SweepRun, find_runs, score
from cnnrun.runs import folder as runs
from cnnrun.runs.summary import RunSummary


def collect(sweep_dir: Path, plan: SweepPlan) -> dict:
    """Per-variant results of the completed runs, and which variants differ beyond seed noise.

    Returns a dict (also stored in `sweep.json` under `results`): `variants` (name, seeds done,
    mean and std of the best monitored value and of the score, verdicts, run folders),
    `comparisons` (Welch's t-test on the score for every pair of variants, Holm-corrected),
    and counts of runs by status.
    """
    found = find_runs(sweep_dir)
    by_variant: dict[str, list[tuple[SweepRun, Path, RunSummary]]] = {}
    status: dict[str, int] = {}
    for r in plan.runs:
        d, summary = found.get(r.name, (None, None))
        st = summary.status if summary is not None else "missing"
        status[st] = status.get(st, 0) + 1
        by_variant.setdefault(r.variant, [])
        if st == "completed" and d is not None and summary is not None:
            by_variant[r.variant].append((r, d, summary))
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
                "run_dirs": [str(d) for _, d, _ in done],
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
    return _finite(
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


def _finite(obj: Any) -> Any:
    """NaN and infinity as null: sweep.json stays standard JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def histories(sweep_dir: Path, results: dict) -> dict[str, list[dict[str, list[float]]]]:
    """Each variant's completed runs' histories, for the mean-and-band curves."""
    return {
        v["variant"]: [runs.read_history(Path(d)) for d in v["run_dirs"]]
        for v in results.get("variants", [])
        if v["run_dirs"]
    }
