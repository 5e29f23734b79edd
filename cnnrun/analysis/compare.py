"""Two runs side by side: the config keys that differ and the metrics, and a regression gate.

Example:
    >>> a = {"train": {"optimizer": {"learning_rate": 0.001}}, "layers": [{"dropout": 0.2}]}
    >>> b = {"train": {"optimizer": {"learning_rate": 0.01}}, "layers": [{"dropout": 0.2}]}
    >>> config_diff(a, b)
    [('train.optimizer.learning_rate', 0.001, 0.01)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from cnnrun.errors import Problem, UserError
from cnnrun.runs.names import CONFIG
from cnnrun.runs.summary import RunSummary, require_summary


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as `{dotted.path[i]: leaf}`."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: value}


def config_diff(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """`(path, value in a, value in b)` for every leaf that differs; absent leaves are None."""
    fa, fb = flatten(a), flatten(b)
    keys = list(dict.fromkeys([*fa, *fb]))
    return [(k, fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)]


def load(run: Path) -> tuple[dict, RunSummary]:
    """A run's resolved config and summary, or a plain error."""
    try:
        config = yaml.safe_load((run / CONFIG).read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as e:
        problem = Problem(f"cannot read this run's config: {e}", file=str(run / CONFIG))
        raise UserError(problem) from None
    return config, require_summary(run)


def regression(a: dict[str, float], b: dict[str, float], metric: str, tolerance: float) -> str:
    """'' when B is no worse than A on `metric` beyond `tolerance`, else why it is."""
    if metric not in a or metric not in b:
        have = sorted(set(a) & set(b))
        raise UserError(
            Problem(f"both runs need '{metric}'; they share: {', '.join(have)}", file="--metric")
        )
    lower_is_better = "loss" in metric
    worse_by = (b[metric] - a[metric]) if lower_is_better else (a[metric] - b[metric])
    if worse_by > tolerance:
        return (
            f"{metric} is worse in B by {worse_by:.4f} ({a[metric]:.4f} -> {b[metric]:.4f}), "
            f"more than the tolerance {tolerance}"
        )
    return ""


@dataclass
class Comparison:
    """Two runs side by side: config differences, metrics, the overlay figure, the gate."""

    a: Path
    b: Path
    config_diff: list[tuple[str, Any, Any]]
    metrics: list[dict]
    figure: Path
    regression: str = ""

    def as_dict(self) -> dict:
        return {
            "a": str(self.a),
            "b": str(self.b),
            "config_diff": [{"path": p, "a": x, "b": y} for p, x, y in self.config_diff],
            "metrics": self.metrics,
            "figure": str(self.figure),
            "regression": self.regression or None,
        }


def compare_runs(
    a_dir: Path, b_dir: Path, metric: str | None, tolerance: float | None, output: Path | None
) -> Comparison:
    """Compare run B with run A; with `tolerance`, `regression` says whether B is worse."""
    from cnnrun.analysis.curves import draw_overlay

    (cfg_a, sum_a), (cfg_b, sum_b) = load(a_dir), load(b_dir)
    sa, sb = sum_a.scores(), sum_b.scores()
    failure = ""
    if tolerance is not None:
        failure = regression(sa, sb, metric or sum_a.monitor, tolerance)
    stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    figure = draw_overlay([a_dir, b_dir], output or a_dir.parent / f"compare_{stamp}.png")
    metrics = [
        {
            "metric": k,
            "a": sa.get(k),
            "b": sb.get(k),
            "b_minus_a": (sb[k] - sa[k]) if k in sa and k in sb else None,
        }
        for k in dict.fromkeys([*sa, *sb])
    ]
    return Comparison(a_dir, b_dir, config_diff(cfg_a, cfg_b), metrics, figure, failure)
