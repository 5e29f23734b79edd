"""Starting a training: every check that can refuse comes first, then the engine trains.

`train` is what `cnnrun train` calls: it loads and checks the config (or the run to resume),
the gates and the workers before TensorFlow is imported, so a bad input is refused in about
a second with exit 2; then it hands the plan to the engine and says how the run ended.

Example:
    >>> outcome = train(TrainRequest(config=Path("configs/digits.yaml")), reporter)
    >>> outcome.code, outcome.summary.best_epoch
    (0, 20)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnrun.analysis.compare import config_diff
from cnnrun.config.load import load_config, parse_config
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Problem, UserError
from cnnrun.paths import require_dir, require_dir_or_new
from cnnrun.plan import Plan, make_plan
from cnnrun.runs import gates as gating
from cnnrun.runs.folder import CONFIG, run_lock
from cnnrun.runs.summary import RunSummary, read_summary
from cnnrun.runs.weights import read_metadata


@dataclass
class TrainRequest:
    """What `cnnrun train` was asked for (see its `--help` for each option)."""

    config: Path | None = None
    sets: list[str] = field(default_factory=list)
    runs_dir: Path = Path("runs")
    name: str | None = None
    resume: Path | None = None
    epochs: int | None = None
    force: bool = False
    fail_under: list[str] = field(default_factory=list)
    workers: str | None = None
    worker_index: int | None = None
    strict: bool = False
    debug: bool = False
    init_weights: Path | None = None  # fine-tuning: the weights training starts from
    mlflow: str | None = None  # --mlflow URI: track the run there
    # Set by sweeps and searches that run trials in this process:
    observers: list[Any] = field(default_factory=list)  # `cnnrun.engine.recorder.Observer`s
    tracking_parent: str | None = None  # the sweep's or search's MLflow run


@dataclass
class TrainOutcome:
    """How it ended: the exit code, the summary, and what to tell the user."""

    code: int
    summary: RunSummary | None
    message: str = ""
    missed: list[str] = field(default_factory=list)


def tf_config(workers: str | None, index: int | None) -> str:
    """TF_CONFIG for `--workers HOST:PORT,... --worker-index I` (exit 2 when malformed)."""
    hosts = [w.strip() for w in (workers or "").split(",") if w.strip()]
    bad = [h for h in hosts if not re.fullmatch(r"[^\s:]+:\d{1,5}", h)]
    if not hosts or bad or index is None or index >= len(hosts):
        raise UserError(
            Problem(
                f"expected --workers HOST:PORT,HOST:PORT,... and --worker-index 0..{len(hosts) - 1}"
                + (f"; not HOST:PORT: {', '.join(bad)}" if bad else ""),
                file="--workers",
                hint="e.g. --workers 10.0.0.1:12345,10.0.0.2:12345 --worker-index 0",
            )
        )
    return json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})


def resume_plan(req: TrainRequest, sets: list[str]) -> tuple[Plan, RunSummary]:
    """The plan to continue a run with, refusing (exit 2) a config that differs from it."""
    run_dir = req.resume
    assert run_dir is not None
    if not (run_dir / CONFIG).is_file():
        raise UserError(Problem(f"is not a run folder (it has no {CONFIG})", file=str(run_dir)))
    try:
        summary = read_summary(run_dir)
    except (OSError, ValueError) as e:
        raise UserError(
            Problem(f"cannot resume: summary.json is unreadable ({e})", file=str(run_dir))
        ) from None
    text = (run_dir / CONFIG).read_text(encoding="utf-8")
    # The run's config.yaml is already resolved (data paths, input shape): validating it is
    # enough to compare against, without loading the data a second time.
    # A run from before `train.batchnorm_stats` existed trained on the moving averages; its
    # resumed epochs keep them rather than take today's default.
    # Runs from before `train.precision` trained in float32, and keep it too.
    kept = [] if "batchnorm_stats:" in text else ["train.batchnorm_stats=moving"]
    kept += [] if "precision:" in text else ["train.precision=float32"]
    original = parse_config(text, str(run_dir / CONFIG), run_dir, kept).config
    loaded = (
        load_config(req.config, sets)
        if req.config
        else parse_config(text, str(run_dir / CONFIG), run_dir, [*kept, *sets])
    )
    plan = make_plan(loaded, strict=req.strict)
    diff = [
        d
        for d in config_diff(original.resolved(), plan.config.resolved())
        if d[0] not in ("name", "train.epochs")
    ]
    if diff and not req.force:
        where = f"cannot resume {run_dir}"
        problems = [
            Problem(f"{p}: the run has {a!r}, the new config {b!r}", file=where) for p, a, b in diff
        ]
        problems.append(
            Problem(
                "resuming with another config would mix two experiments in one run",
                file=where,
                hint="pass --force to resume anyway, or train a new run",
            )
        )
        raise UserError(problems)
    target = req.epochs or max(plan.config.train.epochs, original.train.epochs)
    train_cfg = plan.config.train.model_copy(update={"epochs": target})
    plan.config = plan.config.model_copy(update={"train": train_cfg})
    return plan, summary


# A run folder is <timestamp>_<name>: names are kept well inside file systems' 255 bytes.
MAX_NAME = 64


def _plan(req: TrainRequest) -> tuple[Plan, RunSummary | None]:
    if req.name is not None and not 0 < len(req.name) <= MAX_NAME:
        raise UserError(
            Problem(
                f"a run name has 1 to {MAX_NAME} characters, got {len(req.name)}",
                file="--name",
                hint="the run folder is <timestamp>_<name>",
            )
        )
    require_dir_or_new(req.runs_dir, "a folder for run folders (--runs-dir)")
    sets = list(req.sets)
    if req.workers is not None or req.worker_index is not None:
        os.environ["TF_CONFIG"] = tf_config(req.workers, req.worker_index)
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
        plan, before = resume_plan(req, sets)
    else:
        plan, before = make_plan(load_config(req.config, sets), strict=req.strict), None
    if req.mlflow is not None:
        from cnnrun.config.schema import MlflowConfig

        was = plan.config.logging.mlflow_config or MlflowConfig()
        tracked = was.model_copy(update={"tracking_uri": req.mlflow})
        logging_cfg = plan.config.logging.model_copy(update={"mlflow": tracked})
        plan.config = plan.config.model_copy(update={"logging": logging_cfg})
    return plan, before


def _is_chief(req: TrainRequest) -> bool:
    """Whether this process writes the run (and alone tracks it): not a non-chief worker."""
    if req.worker_index is not None:
        return req.worker_index == 0
    try:
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    except ValueError:
        return True
    return int(task.get("index", 0)) == 0


def _tracker(req: TrainRequest, plan: Plan, reporter: Any) -> Any:
    """The run's MLflow tracker, connected before TensorFlow starts (a dead server: exit 2)."""
    cfg = plan.config.logging.mlflow_config
    if cfg is None or not _is_chief(req):
        return None
    from cnnrun.tracking.tracker import open_tracker

    runs_dir = req.resume.parent if req.resume is not None else req.runs_dir
    name = req.name or plan.config.name or Path(plan.loaded.file).stem
    return open_tracker(
        cfg, runs_dir, plan.config.resolved(), name,
        lambda m: reporter.warn([Problem(m, warning=True)]), req.tracking_parent,
    )  # fmt: skip


def _check_prepared(req: TrainRequest, prep: Any, before: RunSummary | None, gates: dict) -> None:
    """Checks that need the data loaded: the resumed run's data, and what can be gated on."""
    if before is not None and not req.force:
        was = before.data.fingerprint
        if was and was != prep.splits.fingerprint:
            raise UserError(
                Problem(
                    f"the data differs from the run's (fingerprint {prep.splits.fingerprint}, "
                    f"the run trained on {was})",
                    file=f"cannot resume {req.resume}",
                    hint="pass --force to resume anyway",
                )
            )
    metrics = prep.plan.config.train.metrics
    known = {*metrics, *(f"val_{m}" for m in metrics)}
    if prep.splits.counts["test"]:
        known |= {"test_loss", *(f"test_{m}" for m in metrics)}
    gating.require_known(gates, known, "this run")


def _describe(prep: Any, before: RunSummary | None, req: TrainRequest) -> str:
    c, plan = prep.splits.counts, prep.plan
    text = (
        f"data: {plan.config.data.source}: {c['train']} train, {c['validation']} validation, "
        f"{c['test']} test images, {len(plan.class_names)} classes; "
        f"{plan.table.total_params:,} parameters"
    )
    p = prep.precision
    text += f"\nprecision: {p['policy']} ({p['reason']})"
    if before is not None:
        text += f"\nresuming {req.resume} after epoch {before.epochs_run}"
    return text


def train(req: TrainRequest, reporter: Any) -> TrainOutcome:
    """Check, then train a new run or resume one; see the module docstring.

    Args:
        req: what was asked for.
        reporter: shows warnings, notes and progress (`cnnrun.cli.reporters`).

    Raises:
        UserError: anything the user must fix, before any run folder is made.
    """
    if req.resume is None:
        return _train(req, reporter)
    require_dir(req.resume, "a run folder to resume")
    with run_lock(req.resume):  # refused at once while another process trains this run
        return _train(req, reporter)


def _train(req: TrainRequest, reporter: Any) -> TrainOutcome:
    from cnnrun import engine

    plan, before = _plan(req)
    if (
        before is not None
        and before.status == "completed"
        and before.epochs_run >= plan.config.train.epochs
    ):
        message = (
            f"{req.resume} is completed ({before.epochs_run} epochs); nothing to do. "
            "--epochs N trains it further."
        )
        return TrainOutcome(EXIT_OK, before, message)
    gates = gating.parse_gates(req.fail_under)
    reporter.warn(plan.warnings)
    tracker = _tracker(req, plan, reporter)
    training = engine.load(req.debug)
    kept = (before.precision or {}).get("policy") if before is not None else None
    prep = training.prepare(plan, precision=kept, init_weights=req.init_weights)
    _check_prepared(req, prep, before, gates)
    reporter.note(_describe(prep, before, req))
    observers = [*req.observers, *([tracker] if tracker is not None else [])]
    try:
        if req.resume is not None:
            summary = training.resume(prep, req.resume, reporter, observers)
        else:
            summary = training.run(prep, req.runs_dir, reporter, req.name, observers)
    except training.Diverged as e:
        return TrainOutcome(EXIT_FAILED, None, f"failed: {e}")
    except training.Interrupted as e:
        message = (
            f"interrupted: {e.run_dir} keeps its best and last weights; continue with: "
            f"cnnrun train --resume {e.run_dir}"
        )
        return TrainOutcome(EXIT_INTERRUPTED, None, message)
    finally:
        if tracker is not None:
            from cnnrun.engine.mlflow_model import save_mlflow_model  # the engine is loaded

            tracker.end_run(save_mlflow_model)
    if tracker is not None and summary.run_dir:  # the tracker's final state
        summary = read_summary(Path(summary.run_dir))
    if summary.worker:  # a non-chief worker: the chief wrote the run folder
        return TrainOutcome(
            EXIT_OK, summary, f"{summary.worker} done; worker 0 wrote the run folder"
        )
    missed = gating.missed(gates, summary.scores())
    return TrainOutcome(EXIT_FAILED if missed else EXIT_OK, summary, missed=missed)
