"""A search's plan: its space checked against the schema, and `search.json`.

`search.json` marks a search folder. It holds the config (and its hash), the space, the trial
count, where the study lives, the metric and direction, the sampler and pruner, and once
collected, the results: enough for any worker on any machine to join the study.

Example:
    >>> plan = new_plan(Path("configs/search-digits.yaml"), [], None, "")
    >>> plan.direction, plan.trials
    ('minimize', 16)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnrun import atomic
from cnnrun.config.load import load_config
from cnnrun.config.overrides import parse_key, set_line
from cnnrun.config.search_space import SearchConfig, SearchParam
from cnnrun.errors import Problem, UserError
from cnnrun.hashes import file_sha256
from cnnrun.plan import make_plan
from cnnrun.runs.names import SEARCH
from cnnrun.urls import scrubbed

SCALARS = (bool, int, float, str, type(None))


def indexed(p: SearchParam) -> bool:
    """Choices Optuna cannot store (lists, mappings) are suggested by their index."""
    return p.choices is not None and not all(isinstance(c, SCALARS) for c in p.choices)


def points(key: str, p: SearchParam) -> list[Any]:
    """The values of one dimension that are checked before anything runs: its choices, or
    its range's ends (the schema's bounds are ranges, so the ends decide)."""
    if p.choices is not None:
        return list(p.choices)
    return [p.low, p.high] if p.low != p.high else [p.low]


def grid_values(key: str, p: SearchParam) -> list[Any]:
    """Every value of a dimension for the grid sampler: choices, or a range with a step."""
    if p.choices is not None:
        return list(range(len(p.choices))) if indexed(p) else list(p.choices)
    if p.step is None and not p.is_int:
        raise UserError(
            Problem(
                "the grid sampler needs choices, an integer range or a step",
                ("search", "space", key),
                hint=f"add step: to {key}, or use sampler: tpe",
            )
        )
    step, n = p.step or 1, int(math.floor((p.high - p.low) / (p.step or 1) + 1e-9)) + 1
    return [p.low + i * step if p.is_int else round(p.low + i * step, 12) for i in range(n)]


@dataclass
class SearchPlan:
    """What `search.json` holds besides results: enough for any worker to join the study."""

    config: str
    config_sha256: str
    created: str
    sets: list[str]
    space: dict[str, dict]
    trials: int
    metric: str
    direction: str
    sampler: str
    pruner: dict[str, Any]
    epochs: int
    seed: int
    study_name: str
    storage: str | None = None  # an Optuna storage URL; None: the journal file in the folder
    mlflow: dict[str, str] | None = None  # {tracking_uri, run_id}: the parent MLflow run
    heartbeat_s: int = 30  # a database storage's heartbeat (cnnrun.app.study.liveness)
    kind: str = "cnnrun-search"
    version: int = 1
    results: dict = field(default_factory=dict)

    def param(self, key: str) -> SearchParam:
        return SearchParam.model_validate(self.space[key])

    def trial_sets(self, values: dict[str, Any]) -> list[str]:
        """The `--set` lines of one trial: the user's, the metric, then the trial's values."""
        mode = "min" if self.direction == "minimize" else "max"
        sets = [*self.sets, f"checkpoint.monitor={self.metric}", f"checkpoint.mode={mode}"]
        return sets + [set_line(k, v) for k, v in values.items()]


def check_space(loaded: Any, sets: list[str], section: SearchConfig) -> None:
    """Check every key and every point of the space against the schema (exit 2, naming it)."""
    problems: list[Problem] = []
    config = Path(loaded.file)
    for key, p in section.space.items():
        where = ("search", "space", key)
        try:
            parse_key(key)
        except ValueError as e:
            problems.append(loaded.locate(Problem(str(e), where)))
            continue
        if section.sampler == "grid":
            try:
                grid_values(key, p)
            except UserError as e:
                problems += [loaded.locate(q) for q in e.problems]
        for value in points(key, p):
            try:
                make_plan(load_config(config, [*sets, set_line(key, value)]))
            except UserError as e:
                shown = json.dumps(value)[:60]
                problems += [
                    loaded.locate(Problem(f"{shown}: {q.message}", where, hint=q.hint))
                    for q in e.problems
                    if not any(q.message in seen.message for seen in problems)  # once a key
                ]
    if problems:
        raise UserError(problems)


def new_plan(config: Path, sets: list[str], trials_n: int | None, name: str) -> SearchPlan:
    """Load the config's `search:` section, check it and every point of its space."""
    loaded = load_config(config, sets)
    make_plan(loaded)
    section = loaded.config.search
    if section is None:
        raise UserError(
            Problem(
                "has no search: section",
                file=str(config),
                hint="add search: {space: {train.optimizer.learning_rate: "
                "{low: 0.0001, high: 0.01, log: true}}, trials: 20}",
            )
        )
    metric = section.metric or loaded.config.checkpoint.monitor
    metric_sets = [*sets, f"checkpoint.monitor={metric}"]
    try:
        make_plan(load_config(config, metric_sets))  # an unknown metric is named here
    except UserError as e:
        # blamed on the key the user wrote, not on the --set that passes it to each trial
        raise UserError(
            [
                loaded.locate(Problem(p.message, ("search", "metric"), hint=p.hint))
                if p.path == "checkpoint.monitor"
                else p
                for p in e.problems
            ]
        ) from None
    direction = section.direction
    if direction == "auto":
        direction = "minimize" if "loss" in metric else "maximize"
    check_space(loaded, metric_sets, section)
    n = trials_n or section.trials
    if section.sampler == "grid" and trials_n is None and "trials" not in section.model_fields_set:
        n = math.prod(len(grid_values(k, p)) for k, p in section.space.items())
    return SearchPlan(
        str(config.resolve()),
        file_sha256(config),
        datetime.now().isoformat(timespec="seconds"),
        list(sets),
        {k: p.model_dump(exclude_defaults=True) for k, p in section.space.items()},
        n,
        metric,
        direction,
        section.sampler,
        section.pruner_config.model_dump(),
        loaded.config.train.epochs,
        loaded.config.seed,
        name,
    )


def write_plan(search_dir: Path, plan: SearchPlan) -> None:
    # passwords in the storage's or MLflow's URL stay in this process (cnnrun.urls)
    atomic.write_text(search_dir / SEARCH, json.dumps(scrubbed(asdict(plan)), indent=2))


def read_plan(search_dir: Path) -> SearchPlan:
    """Read `search.json`; a plain error when the folder is not a search."""
    path = search_dir / SEARCH
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.get("kind") != "cnnrun-search":
            raise ValueError("it is not a cnnrun search file")
        return SearchPlan(**d)
    except FileNotFoundError:
        raise UserError(
            Problem(f"is not a search folder (it has no {SEARCH})", file=str(search_dir))
        ) from None
    except (OSError, ValueError, TypeError) as e:
        raise UserError(Problem(f"unreadable {SEARCH}: {e}", file=str(path))) from None
