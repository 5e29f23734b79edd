"""Sweeps: variants x seeds of one config, each a normal run, grouped in one sweep folder.

A sweep folder holds `sweep.json` (the plan: the config, every run's name and `--set`
overrides, and once collected, the results) and one ordinary run folder per variant and
seed. Every run is the command `train_command` returns, so a sweep run here and the lines of
`--print-commands` run by a CI matrix or a Slurm array make the same runs.

Example:
    >>> runs = expand(42, {"train.batch_size": [32, 64]}, {}, seeds=2)
    >>> [r.name for r in runs]
    ['batch_size-32-seed42', 'batch_size-32-seed43', 'batch_size-64-seed42', 'batch_size-64-seed43']
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnrun import atomic
from cnnrun.config.load import load_config
from cnnrun.config.overrides import parse_key, set_line
from cnnrun.errors import Problem, UserError
from cnnrun.hashes import file_sha256
from cnnrun.plan import make_plan
from cnnrun.runs import names
from cnnrun.runs.summary import RunSummary, read_summary
from cnnrun.urls import scrubbed

LOGS = "logs"


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its name (also its run name), variant, seed and overrides."""

    name: str
    variant: str
    seed: int
    sets: tuple[str, ...]


def _slug(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "x"


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """`--grid KEY=V1,V2` options into {KEY: [V1, V2]}; values are YAML scalars."""
    import yaml

    grid: dict[str, list[Any]] = {}
    problems = []
    for item in items:
        key, sep, text = item.partition("=")
        try:
            if not sep or not key.strip() or not text.strip():
                raise ValueError("expected KEY=V1,V2,..., e.g. --grid train.batch_size=32,64")
            parse_key(key.strip())
            values = yaml.safe_load(f"[{text}]")
            grid[key.strip()] = values
        except (ValueError, yaml.YAMLError) as e:
            problems.append(Problem(str(e).splitlines()[0], file=f"--grid {item}"))
    if problems:
        raise UserError(problems)
    return grid


# A run name is at most 64 characters (`--name`); "-seed" and a seed of up to 5 digits follow.
MAX_VARIANT = 54


def expand(
    base_seed: int,
    grid: dict[str, list[Any]],
    variants: dict[str, dict[str, Any]],
    seeds: int,
) -> list[SweepRun]:
    """Every variant (named variants x grid combinations) at `seeds` seeds.

    Raises:
        UserError: a key that is not a `--set` path, an empty value list, or no variant.
    """
    problems = []
    for key in [*grid, *(k for v in variants.values() for k in v)]:
        try:
            parse_key(key)
        except ValueError as e:
            problems.append(Problem(f"{key}: {e}", ("sweep",)))
    problems += [
        Problem(f"{key}: no values to sweep", ("sweep", "grid")) for key, v in grid.items() if not v
    ]
    if problems:
        raise UserError(problems)
    named = list(variants.items()) or [("", {})]
    combos = list(itertools.product(*grid.values())) if grid else [()]
    out = []
    for (vname, vsets), combo in itertools.product(named, combos):
        parts = [vname] if vname else []
        parts += [f"{parse_key(k)[-1]}-{_slug(v)}" for k, v in zip(grid, combo, strict=True)]
        variant = "_".join(parts) or "base"
        if len(variant) > MAX_VARIANT:  # run names are limited; keep them unique with a hash
            digest = hashlib.sha256(variant.encode()).hexdigest()[:6]
            variant = f"{variant[: MAX_VARIANT - 7]}-{digest}"
        sets = [set_line(k, v) for k, v in vsets.items()]
        sets += [set_line(k, v) for k, v in zip(grid, combo, strict=True)]
        for i in range(seeds):
            seed = base_seed + i
            out.append(SweepRun(f"{variant}-seed{seed}", variant, seed, (*sets, f"seed={seed}")))
    if len({r.variant for r in out}) < len(named) * len(combos):
        raise UserError(Problem("two variants get the same name", ("sweep",)))
    return out


def train_command(config: str, sweep_dir: Path, run: SweepRun) -> list[str]:
    """The `cnnrun train` command line of one sweep run."""
    cmd = ["cnnrun", "train", config, "--runs-dir", str(sweep_dir), "--name", run.name]
    for s in run.sets:
        cmd += ["--set", s]
    return cmd


@dataclass
class SweepPlan:
    """What `sweep.json` holds before results: enough to rerun or resume the sweep."""

    config: str
    config_sha256: str
    created: str
    runs: list[SweepRun]
    kind: str = "cnnrun-sweep"
    version: int = 2  # 1: before the study (runs claimed by lock files); its folder resumes
    results: dict = field(default_factory=dict)
    mlflow: dict | None = None  # {tracking_uri, run_id, experiment}: the parent MLflow run
    storage: str | None = None  # an Optuna storage URL; None: the journal file in the folder
    study_name: str = ""
    direction: str = "minimize"  # the runs' checkpoint.mode, as the study's direction
    heartbeat_s: int = 30  # a database storage's heartbeat (cnnrun.app.study.liveness)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["runs"] = [{**asdict(r), "sets": list(r.sets)} for r in self.runs]
        return d


def new_plan(config: Path, sweep_runs: list[SweepRun]) -> SweepPlan:
    mode = load_config(config, list(sweep_runs[0].sets)).config.checkpoint.resolved_mode
    return SweepPlan(
        str(config),
        file_sha256(config),
        datetime.now().isoformat(timespec="seconds"),
        sweep_runs,
        direction="minimize" if mode == "min" else "maximize",
    )


def plan_of(d: dict[str, Any]) -> SweepPlan:
    """A plan from its JSON form (`sweep.json`, or the one a study keeps)."""
    return SweepPlan(
        d["config"],
        d["config_sha256"],
        d["created"],
        [SweepRun(r["name"], r["variant"], r["seed"], tuple(r["sets"])) for r in d["runs"]],
        version=d.get("version", 1),
        results=d.get("results") or {},
        mlflow=d.get("mlflow"),
        storage=d.get("storage"),
        study_name=d.get("study_name", ""),
        direction=d.get("direction", "minimize"),
        heartbeat_s=d.get("heartbeat_s", 30),
    )


def write_plan(sweep_dir: Path, plan: SweepPlan) -> None:
    # a password in MLflow's URL stays in this process (cnnrun.urls)
    atomic.write_text(sweep_dir / names.SWEEP, json.dumps(scrubbed(plan.as_dict()), indent=2))


def read_plan(sweep_dir: Path) -> SweepPlan:
    """Read `sweep.json`; a plain error when the folder is not a sweep."""
    path = sweep_dir / names.SWEEP
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.get("kind") != "cnnrun-sweep":
            raise ValueError("it is not a cnnrun sweep file")
        return plan_of(d)
    except FileNotFoundError:
        raise UserError(
            Problem(f"is not a sweep folder (it has no {names.SWEEP})", file=str(sweep_dir))
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(Problem(f"unreadable {names.SWEEP}: {e}", file=str(path))) from None


def find_runs(sweep_dir: Path, only: str | None = None) -> dict[str, tuple[Path, RunSummary]]:
    """The run folder of each run name in a sweep folder: the completed one if any, else the
    one that got furthest (to resume). Folders without a readable summary are left out.
    `only` looks for one run name, reading only the folders named for it
    (`<timestamp>_<name>` or `<timestamp>_<name>-N`), not every summary of the sweep."""
    found: dict[str, tuple[Path, RunSummary]] = {}
    for d in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        rest = d.name.partition("_")[2]
        if only is not None and not (rest == only or re.fullmatch(re.escape(only) + r"-\d+", rest)):
            continue
        try:
            summary = read_summary(d)
        except (OSError, ValueError):
            continue
        name = summary.name
        if not name or (only is not None and name != only):
            continue
        old = found.get(name)
        if old is None or _progress(summary) > _progress(old[1]):
            found[name] = (d, summary)
    return found


def _progress(summary: RunSummary) -> tuple[bool, int]:
    return summary.status == "completed", summary.epochs_run


def score(summary: RunSummary) -> tuple[str, float]:
    """The number a run is judged by: test accuracy when it has one, else its best value."""
    if "test_accuracy" in summary.test:
        return "test_accuracy", float(summary.test["test_accuracy"])
    value = summary.best_value
    return summary.monitor, math.nan if value is None else float(value)


def plan_runs(
    config: Path, sets: Sequence[str], grid: Sequence[str], seeds: int | None
) -> list[SweepRun]:
    """Expand the sweep and check every variant's config before anything runs (exit 2)."""
    sets = list(sets)
    loaded = load_config(config, sets)
    section = loaded.config.sweep
    full_grid = {**(section.grid if section else {}), **parse_grid(list(grid))}
    variants = section.variants if section else {}
    n = seeds or (section.seeds if section else 1)
    planned = expand(loaded.config.seed, full_grid, variants, n)
    problems, seen = [], set()
    for run in planned:
        if run.variant in seen:
            continue
        seen.add(run.variant)
        try:
            make_plan(load_config(config, [*sets, *run.sets]))
        except UserError as e:
            problems += [
                replace(p, message=f"variant {run.variant}: {p.message}") for p in e.problems
            ]
    if problems:
        raise UserError(problems)
    # the user's own --set apply to every run, before the variant's
    return [replace(r, sets=(*sets, *r.sets)) for r in planned]
