"""Hyperparameter searches on Optuna: trials as normal runs, pruning, workers sharing a study.

A search folder holds `search.json` (the plan: the config, its space, the trial count, where
the study lives, and once collected, the results), the study itself (Optuna's journal file
storage, `study.journal`, unless `--storage` names another), and one ordinary run folder per
trial. Workers (`cnnrun.runs.trials`) ask Optuna for a trial, train it in their own process,
report each epoch's monitored value to the pruner and tell the study how it ended.

The journal storage has no heartbeat, so each worker holds a lock file per running trial
(`locks/trial-N.lock`); a trial left `RUNNING` whose lock nobody holds belonged to a worker
that died, and the next worker to start marks it failed and queues it again, to resume in its
own run folder. Taking a trial and checking for dead ones happen under one folder lock, so
two workers never take the same trial or run past the count.

Example:
    >>> plan = new_plan(Path("configs/search-digits.yaml"), [], loaded.config.search)
    >>> plan.direction, plan.trials
    ('minimize', 12)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnrun import atomic
from cnnrun.config.load import load_config
from cnnrun.config.overrides import parse_key
from cnnrun.config.plan import make_plan
from cnnrun.config.schema import SearchConfig, SearchParam
from cnnrun.errors import EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.runs import trials
from cnnrun.runs.folder import SEARCH
from cnnrun.runs.start import TrainRequest
from cnnrun.runs.summary import RunSummary

JOURNAL = "study.journal"
STUDY_LOCK = "study.lock"
SCALARS = (bool, int, float, str, type(None))


def _set_line(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value, separators=(',', ':'))}"


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
    kind: str = "cnnrun-search"
    version: int = 1
    results: dict = field(default_factory=dict)

    def param(self, key: str) -> SearchParam:
        return SearchParam.model_validate(self.space[key])

    def trial_sets(self, values: dict[str, Any]) -> list[str]:
        """The `--set` lines of one trial: the user's, the metric, then the trial's values."""
        mode = "min" if self.direction == "minimize" else "max"
        sets = [*self.sets, f"checkpoint.monitor={self.metric}", f"checkpoint.mode={mode}"]
        return sets + [_set_line(k, v) for k, v in values.items()]


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
                make_plan(load_config(config, [*sets, _set_line(key, value)]))
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
    import hashlib

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
    make_plan(load_config(config, metric_sets))  # an unknown metric is named here
    direction = section.direction
    if direction == "auto":
        direction = "minimize" if "loss" in metric else "maximize"
    check_space(loaded, metric_sets, section)
    n = trials_n or section.trials
    if section.sampler == "grid" and trials_n is None and "trials" not in section.model_fields_set:
        n = math.prod(len(grid_values(k, p)) for k, p in section.space.items())
    return SearchPlan(
        str(config.resolve()),
        hashlib.sha256(config.read_bytes()).hexdigest(),
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
    atomic.write_text(search_dir / SEARCH, json.dumps(asdict(plan), indent=2))


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


# ---- the study ------------------------------------------------------------------------------


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError(
            Problem(
                "cnnrun search needs the search extra (Optuna), which is not installed",
                hint="pip install 'cnnrun[search]'",
            )
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # cnnrun reports trials itself
    return optuna


def storage(search_dir: Path, plan: SearchPlan) -> Any:
    """The study's Optuna storage: the journal file in the folder, or `plan.storage`."""
    optuna = require_optuna()
    if plan.storage is None:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(search_dir / JOURNAL)))
    try:
        return optuna.storages.get_storage(plan.storage)
    except Exception as e:  # a bad URL, a database that does not answer
        raise UserError(
            Problem(
                f"Optuna cannot open this storage: {type(e).__name__}: {e}", file=plan.storage
            )  # fmt: skip
        ) from None


def _sampler(plan: SearchPlan, solo: bool, done: int) -> Any:
    import optuna

    # One worker alone is reproducible from the config's seed, moved on by the trials already
    # in the study (a resumed search must not draw its first points again); several workers
    # must not draw the same points, so each seeds from the system.
    seed = plan.seed + done if solo else None
    if plan.sampler == "grid":

        class AskTellGrid(optuna.samplers.GridSampler):
            # Optuna's grid sampler calls `study.stop()` once its grid is done, which only
            # `study.optimize` allows; here the trial count stops the workers.
            def after_trial(self, *args: Any) -> None:
                pass

        space = {k: grid_values(k, plan.param(k)) for k in plan.space}
        return AskTellGrid(space, seed=seed)
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(plan: SearchPlan) -> Any:
    import optuna

    p = plan.pruner
    if p["name"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p["startup_trials"], n_warmup_steps=p["warmup_epochs"]
        )
    if p["name"] == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, p["warmup_epochs"]), max_resource=plan.epochs
        )
    return optuna.pruners.NopPruner()


def open_study(search_dir: Path, plan: SearchPlan, solo: bool = False) -> tuple[Any, Any]:
    """The search's study, created on first use, and its storage; every worker opens the
    same one."""
    optuna = require_optuna()
    store = storage(search_dir, plan)
    try:
        done = len(store.get_all_trials(store.get_study_id_from_name(plan.study_name)))
    except KeyError:  # the study is created below
        done = 0
    study = optuna.create_study(
        study_name=plan.study_name,
        storage=store,
        sampler=_sampler(plan, solo, done),
        pruner=_pruner(plan),
        direction=plan.direction,
        load_if_exists=True,
    )
    return study, store


def suggest(trial: Any, plan: SearchPlan) -> dict[str, Any]:
    """The trial's value for every key of the space (choices' values, not their indices)."""
    values = {}
    for key in plan.space:
        p = plan.param(key)
        if p.choices is not None:
            if indexed(p):
                values[key] = p.choices[trial.suggest_categorical(key, list(range(len(p.choices))))]
            else:
                values[key] = trial.suggest_categorical(key, p.choices)
        elif p.is_int:
            values[key] = trial.suggest_int(key, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            values[key] = trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)
    return values


def _lock(search_dir: Path, number: int) -> Path:
    return search_dir / trials.LOCKS / f"trial-{number}.lock"


def taken(study: Any) -> int:
    """Trials that count towards the total: finished, pruned, failed by their own doing, and
    running. Interrupted ones (queued again) do not."""
    from optuna.trial import TrialState

    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        or (t.state == TrialState.FAIL and not t.user_attrs.get("requeued"))
    )


def requeue(study: Any, store: Any, trial: Any) -> None:
    """Mark a trial that will not finish (its worker died or was stopped) failed, and queue
    its values again so that a worker resumes it in its own run folder."""
    from optuna.trial import TrialState

    trial_id = store.get_trial_id_from_study_id_trial_number(
        store.get_study_id_from_name(study.study_name), trial.number
    )
    store.set_trial_user_attr(trial_id, "requeued", True)
    store.set_trial_state_values(trial_id, state=TrialState.FAIL)
    attrs = {k: v for k, v in trial.user_attrs.items() if k in ("run_name", "run_dir")}
    # the values again as a user attribute: a queued trial shows its params only once it runs
    attrs.update(resumes=trial.number, queued_params=trial.params)
    study.enqueue_trial(trial.params, user_attrs=attrs)


def requeue_dead(study: Any, store: Any, search_dir: Path) -> list[int]:
    """Queue again every RUNNING trial whose lock no worker holds; their numbers."""
    from optuna.trial import TrialState

    dead = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        with trials.claim(_lock(search_dir, t.number)) as free:
            if free:
                dead.append(t)
    for t in dead:
        requeue(study, store, t)
    return [t.number for t in dead]


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
    run_dir = trial.user_attrs.get("run_dir")
    if run_dir and (Path(run_dir) / "config.yaml").is_file():
        req = TrainRequest(resume=Path(run_dir))
    else:
        name = trial.user_attrs.get("run_name") or f"trial-{trial.number:03d}"
        trial.set_user_attr("run_name", name)
        req = TrainRequest(Path(plan.config), plan.trial_sets(values), search_dir, name)
    req.observers = [Pruning(trial, plan.metric)]
    req.tracking_parent = (plan.mlflow or {}).get("run_id")
    return req


def _take(
    study: Any, store: Any, search_dir: Path, plan: SearchPlan, stack: contextlib.ExitStack
) -> Any:
    """The next trial for this worker, its lock held by `stack`; None once the count is
    reached."""
    with trials.folder_lock(search_dir / STUDY_LOCK):
        requeue_dead(study, store, search_dir)
        if taken(study) >= plan.trials:
            return None
        trial = study.ask()
        stack.enter_context(trials.claim(_lock(search_dir, trial.number)))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return trial


def _tell(study: Any, trial: Any, outcome: Any) -> None:
    from optuna.trial import TrialState

    summary = outcome.summary
    if outcome.code == EXIT_OK and summary is not None and summary.status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif outcome.code == EXIT_OK and summary is not None and summary.best_value is not None:
        study.tell(trial, float(summary.best_value))
    else:
        trial.set_user_attr("reason", (outcome.message or "failed")[:500])
        study.tell(trial, state=TrialState.FAIL)


def work(search_dir: Path, plan: SearchPlan, reporter: Any, say: Any, solo: bool = False) -> bool:
    """Be one worker of a search: take trials and train them here until the count is
    reached. Returns False if interrupted (the trial is queued again, to resume)."""
    study, store = open_study(search_dir, plan, solo)
    with trials.sigterm_interrupts():
        while True:
            with contextlib.ExitStack() as stack:
                try:
                    trial = _take(study, store, search_dir, plan, stack)
                except KeyboardInterrupt:
                    return False
                if trial is None:
                    return True
                try:
                    outcome = trials.run_trial(_request(trial, plan, search_dir), reporter)
                except KeyboardInterrupt:
                    outcome = None
                if outcome is None or outcome.code == EXIT_INTERRUPTED:
                    requeue(study, store, study.get_trials(deepcopy=False)[trial.number])
                    return False
                _tell(study, trial, outcome)
                say(trial_line(study, trial.number, plan))


def trial_line(study: Any, number: int, plan: SearchPlan) -> str:
    """One finished trial, for the progress lines."""
    from cnnrun.runs.search_results import row_of

    row = row_of(study.get_trials(deepcopy=False)[number], plan)
    value = f"{plan.metric} {row['value']:.4f}" if row["value"] is not None else row["reason"]
    done = sum(1 for t in study.get_trials(deepcopy=False)
               if t.state.is_finished() and not t.user_attrs.get("requeued"))  # fmt: skip
    params = ", ".join(f"{short(k)} {v:.4g}" if isinstance(v, float) else f"{short(k)} {v}"
                       for k, v in row["params"].items())  # fmt: skip
    return f"[{done}/{plan.trials}] {row['run_name']} {row['status']}: {value} ({params})"


def short(key: str) -> str:
    """A key's last two parts, for tables: `model.layers[2].dropout.rate` is `dropout.rate`."""
    parts = [p for p in key.replace("[", ".").replace("]", "").split(".") if not p.isdigit()]
    return ".".join(parts[-2:])
