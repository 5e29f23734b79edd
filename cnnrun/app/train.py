"""`cnnrun train` and `cnnrun.train`: every check that can refuse comes first, then the engine
trains a new run, or continues one in its own folder.

The config (or the run to resume), the gates and the workers are checked before TensorFlow
is imported, so a bad input is refused in about a second, before any run folder is made.

Example:
    ```python
    summary = train("configs/digits.yaml", overrides=["train.epochs=3"])
    summary.best_epoch, summary.run_dir
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnnrun.app import resume as resuming
from cnnrun.app.distributed import is_chief, tf_config_env
from cnnrun.config.load import load_config
from cnnrun.config.schema import MlflowConfig
from cnnrun.errors import GateFailed, Problem, UserError
from cnnrun.paths import require_dir, require_dir_or_new
from cnnrun.plan import Plan, make_plan
from cnnrun.runs import gates as gating
from cnnrun.runs.events import Observer, PrintReporter, Reporter
from cnnrun.runs.locks import run_lock
from cnnrun.runs.names import CACHE_DIR
from cnnrun.runs.summary import RunSummary, read_summary
from cnnrun.runs.weights import read_metadata

if TYPE_CHECKING:
    from cnnrun.engine.api import Prepared
    from cnnrun.tracking.tracker import Tracker

# A run folder is <timestamp>_<name>: names are kept well inside file systems' 255 bytes.
MAX_NAME = 64


@dataclass(frozen=True, kw_only=True)
class TrainRequest:
    """What a training was asked for; `train` documents each field."""

    config: Path | None = None
    overrides: tuple[str, ...] = ()
    runs_dir: Path = Path("runs")
    name: str | None = None
    resume: Path | None = None
    epochs: int | None = None
    force: bool = False
    fail_under: tuple[str, ...] = ()
    init_weights: Path | None = None
    mlflow: str | None = None
    strict: bool = False
    workers: str | None = None
    worker_index: int | None = None
    observers: tuple[Observer, ...] = ()
    tracking_parent: str | None = None
    debug: bool = False


def train(
    config: str | Path | None = None,
    *,
    overrides: Sequence[str] | None = (),
    runs_dir: str | Path = "runs",
    name: str | None = None,
    resume: str | Path | None = None,
    epochs: int | None = None,
    force: bool = False,
    fail_under: Sequence[str] | None = (),
    init_weights: str | Path | None = None,
    mlflow: str | None = None,
    strict: bool = False,
    workers: str | None = None,
    worker_index: int | None = None,
    reporter: Reporter | None = None,
    observers: Sequence[Observer] | None = (),
    tracking_parent: str | None = None,
    debug: bool = False,
) -> RunSummary:
    """Train an experiment into a new run folder, or continue one (`resume`).

    Args:
        config: the experiment's YAML file (not needed with `resume`).
        overrides: `KEY=VALUE` strings, as `--set`: `["train.epochs=5"]`.
        runs_dir: where the run folder is made.
        name: the run's name (default: the config's `name`, else the file's stem).
        resume: a run folder to continue from its last finished epoch.
        epochs: with `resume`: train up to this many epochs.
        force: with `resume`: accept a config or data that differ from the run's.
        fail_under: `METRIC=VALUE` bars (`val_accuracy=0.9`, `test_accuracy=0.85`).
        init_weights: a `.weights.h5` of the same network to start from (fine-tuning).
        mlflow: an MLflow tracking URI to log the run to.
        strict: placement warnings are errors.
        workers, worker_index: `HOST:PORT,...` and this process's place among them, for
            `multi_worker` training.
        reporter: shows warnings, notes and progress (default: plain lines on stdout).
        observers: follow the run epoch by epoch; one that asks to stop prunes it.
        tracking_parent: the MLflow run of a sweep or search this run belongs to.
        debug: keep TensorFlow's start-up messages on stderr.

    Returns:
        The run's summary (`summary.run_dir` is its folder); for a resumed run that had
        nothing left to do, its summary as it was.

    Raises:
        UserError: anything the user must fix, before any run folder is made.
        Diverged: the loss became NaN or infinite (the run is `failed`, its best weights kept).
        GateFailed: a `fail_under` bar was missed (`.result` is the summary).
        Interrupted: Ctrl-C or SIGTERM (the run is `interrupted` and can be resumed).

    Signal handlers are installed only when this runs in the main thread, so `train` can be
    called from any thread (Ctrl-C then reaches only the main one).
    """
    request = TrainRequest(
        config=_path(config),
        overrides=tuple(overrides or ()),
        runs_dir=Path(runs_dir),
        name=name,
        resume=_path(resume),
        epochs=epochs,
        force=force,
        fail_under=tuple(fail_under or ()),
        init_weights=_path(init_weights),
        mlflow=mlflow,
        strict=strict,
        workers=workers,
        worker_index=worker_index,
        observers=tuple(observers or ()),
        tracking_parent=tracking_parent,
        debug=debug,
    )
    return train_request(request, reporter or PrintReporter())


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def train_request(req: TrainRequest, reporter: Reporter) -> RunSummary:
    """`train` on a request: what sweep and search workers call for each run."""
    if req.resume is None:
        return _train(req, reporter)
    require_dir(req.resume, "a run folder to resume")
    with run_lock(req.resume):  # refused at once while another process trains this run
        return _train(req, reporter)


def _plan(req: TrainRequest) -> tuple[Plan, RunSummary | None]:
    """The checked plan, and the summary of the run to resume; every refusal before
    TensorFlow starts."""
    if req.name is not None and not 0 < len(req.name) <= MAX_NAME:
        raise UserError(
            Problem(
                f"a run name has 1 to {MAX_NAME} characters, got {len(req.name)}",
                file="--name",
                hint="the run folder is <timestamp>_<name>",
            )
        )
    require_dir_or_new(req.runs_dir, "a folder for run folders (--runs-dir)")
    sets = list(req.overrides)
    if req.workers is not None or req.worker_index is not None:
        tf_config_env(req.workers, req.worker_index)
        sets.append("distribute=multi_worker")
    if req.resume is None and req.config is None:
        raise UserError(Problem("give a CONFIG to train, or --resume RUN_DIR"))
    if req.resume is None and (req.epochs or req.force):
        raise UserError(Problem("--epochs and --force go with --resume"))
    if req.resume is not None and req.init_weights is not None:
        raise UserError(Problem("--init-weights starts a new run; --resume continues one"))
    if req.init_weights is not None:
        read_metadata(req.init_weights)  # a readable weights file, before TensorFlow starts
    if req.resume is not None:
        plan, before = resuming.resume_plan(
            req.resume, req.config, sets, req.epochs, req.force, req.strict
        )
    else:
        plan, before = make_plan(load_config(req.config, sets), strict=req.strict), None
    if req.mlflow is not None:
        was = plan.config.logging.mlflow_config or MlflowConfig()
        tracked = was.model_copy(update={"tracking_uri": req.mlflow})
        logging_cfg = plan.config.logging.model_copy(update={"mlflow": tracked})
        plan.config = plan.config.model_copy(update={"logging": logging_cfg})
    return plan, before


def _tracker(req: TrainRequest, plan: Plan, reporter: Reporter) -> Tracker | None:
    """The run's MLflow tracker, connected before TensorFlow starts (a dead server: exit 2)."""
    cfg = plan.config.logging.mlflow_config
    if cfg is None or not is_chief(req.worker_index):
        return None
    from cnnrun.tracking.tracker import open_tracker

    runs_dir = req.resume.parent if req.resume is not None else req.runs_dir
    name = req.name or plan.config.name or Path(plan.loaded.file).stem
    warn = lambda m: reporter.warn([Problem(m, warning=True)])  # noqa: E731
    return open_tracker(cfg, runs_dir, plan.config.resolved(), name, warn, req.tracking_parent)


def _describe(prep: Prepared, before: RunSummary | None, req: TrainRequest) -> str:
    c, plan = prep.splits.counts, prep.plan
    text = (
        f"data: {plan.config.data.source}: {c['train']} train, {c['validation']} validation, "
        f"{c['test']} test images, {len(plan.class_names)} classes; "
        f"{plan.table.total_params:,} parameters"
    )
    if prep.splits.cache:
        text += f"\ncache: {prep.splits.cache['mode']} ({prep.splits.cache['reason']})"
    skipped = prep.splits.dataset.skipped if prep.splits.dataset is not None else []
    if skipped:
        text += f"\nskipped {len(skipped)} bad image file(s), listed in summary.json"
    p = prep.precision or {}
    text += f"\nprecision: {p.get('policy')} ({p.get('reason')})"
    if before is not None:
        text += f"\nresuming {req.resume} after epoch {before.epochs_run}"
    return text


def _known_metrics(prep: Prepared) -> set[str]:
    """What a gate can name: the metrics of every epoch, and the test scores if any."""
    metrics = prep.plan.config.train.metrics
    known = {*metrics, *(f"val_{m}" for m in metrics)}
    if prep.splits.counts["test"]:
        known |= {"test_loss", *(f"test_{m}" for m in metrics)}
    return known


def _train(req: TrainRequest, reporter: Reporter) -> RunSummary:
    plan, before = _plan(req)
    if resuming.nothing_left(before, plan):
        assert before is not None
        reporter.note(
            f"{req.resume} is completed ({before.epochs_run} epochs); nothing to do. "
            "--epochs N trains it further."
        )
        return before
    gates = gating.parse_gates(req.fail_under)
    reporter.warn(plan.warnings)
    tracker = _tracker(req, plan, reporter)
    from cnnrun.engine import start

    start(req.debug)
    from cnnrun.engine import api

    kept = (before.precision or {}).get("policy") if before is not None else None
    runs_dir = req.resume.parent if req.resume is not None else req.runs_dir
    try:
        prep = api.prepare(
            plan,
            precision=kept,
            init_weights=req.init_weights,
            cache_dir=runs_dir / CACHE_DIR,
            pretrained=before is None,
        )
    except UserError as e:  # a backbone's weights, a config field: pointed at in the file
        raise UserError([plan.loaded.locate(p) for p in e.problems]) from None
    if before is not None and not req.force:
        resuming.check_data(req.resume, before, prep.splits)
    gating.require_known(gates, _known_metrics(prep), "this run")
    reporter.note(_describe(prep, before, req))
    observers = [*req.observers, *([tracker] if tracker is not None else [])]
    try:
        if req.resume is not None:
            summary = api.resume(prep, req.resume, reporter, observers)
        else:
            summary = api.run(prep, req.runs_dir, reporter, req.name, observers)
    finally:
        if tracker is not None:
            tracker.end_run(api.save_mlflow_model)
    if tracker is not None and summary.run_dir:  # the tracker's final state
        summary = read_summary(Path(summary.run_dir))
    missed = [] if summary.worker else gating.missed(gates, summary.scores())
    if missed:
        raise GateFailed(missed, summary)
    return summary
