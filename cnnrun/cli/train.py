"""`cnnrun train`: new runs and `--resume`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnnrun.cli.common import (
    ConfigArg,
    GateOpt,
    NameOpt,
    Output,
    RunsDirOpt,
    SetOpt,
    StrictOpt,
    complete_run_dir,
    complete_weights,
    consoles,
    emit_json,
    output_options,
    path_option,
)

if TYPE_CHECKING:  # the summary's pydantic model is only needed once a run is done
    from cnnrun.runs.summary import RunSummary

ResumeOpt = path_option(
    "RUN_DIR", "Continue this run folder from its last epoch.", complete_run_dir
)
EpochsOpt = Annotated[
    int | None, typer.Option(min=1, metavar="N", help="With --resume: train up to N epochs.")
]
ForceOpt = Annotated[bool, typer.Option(help="With --resume: accept a different config or data.")]
WorkersOpt = Annotated[
    str | None,
    typer.Option(
        metavar="HOST:PORT,...", help="Train on these workers (multi_worker), one process each."
    ),
]
WorkerIndexOpt = Annotated[
    int | None, typer.Option(min=0, metavar="I", help="With --workers: this process's place.")
]

MlflowOpt = Annotated[
    str | None,
    typer.Option(
        "--mlflow",
        metavar="URI",
        help="Track the run in MLflow at URI (sqlite:///runs/mlflow.db, http://host:5000).",
    ),
]
InitOpt = path_option(
    "FILE",
    "Start from these weights (a .weights.h5 of the same network): fine-tuning.",
    complete_weights,
)


def render_summary(summary: RunSummary, out: Any) -> None:
    """The run folder, best epoch, test scores and diagnosis, one line each."""
    if summary.worker:  # a non-chief worker of multi-worker training
        out.print(f"{summary.worker} done; worker 0 wrote the run folder", markup=False)
        return
    out.print(f"run folder: {summary.run_dir}", markup=False)
    if summary.best_epoch:
        extra = {
            k: v
            for k, v in summary.best_metrics.items()
            if k.startswith("val_") and k != summary.monitor
        }
        detail = ", ".join(f"{k} {v:.4f}" for k, v in extra.items())
        out.print(
            f"best epoch {summary.best_epoch}/{summary.epochs_run}: {summary.monitor} "
            f"{summary.best_value:.4f}" + (f" ({detail})" if detail else ""),
            markup=False,
        )
    if summary.test:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in summary.test.items())
        out.print(
            f"test ({summary.data.counts['test']} images, best weights): {scores}", markup=False
        )
    if summary.diagnosis:
        d = summary.diagnosis
        out.print(f"diagnosis: {d['verdict']}: {d['reason']}", markup=False)
    tracked = (summary.tracking or {}).get("mlflow")
    if tracked:
        out.print(tracked_line(tracked), markup=False)


def tracked_line(tracked: dict[str, Any]) -> str:
    """Where the run went in MLflow, and the MLflow version that wrote it: a tracking server
    older than that version refuses the store (docs/tracking.md).

    Example:
        >>> tracked_line({"run_id": "ab12", "tracking_uri": "http://h:5000",
        ...               "state": "ok", "mlflow_version": "3.18.0"})
        'mlflow: run ab12 at http://h:5000 (written with MLflow 3.18.0)'
    """
    run = f"run {tracked['run_id']}" if tracked.get("run_id") else "no run"
    line = f"mlflow: {run} at {tracked.get('tracking_uri')}"
    if tracked.get("mlflow_version"):  # absent from the summaries of cnnrun before it
        line += f" (written with MLflow {tracked['mlflow_version']})"
    state = tracked.get("state", "ok")
    return line if state == "ok" else f"{line}; {state}"


@output_options("json", "quiet", "debug")
def train(
    opts: Output,
    config: ConfigArg = None,
    overrides: SetOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    name: NameOpt = None,
    resume: ResumeOpt = None,
    epochs: EpochsOpt = None,
    force: ForceOpt = False,
    fail_under: GateOpt = None,
    workers: WorkersOpt = None,
    worker_index: WorkerIndexOpt = None,
    strict: StrictOpt = False,
    init_weights: InitOpt = None,
    mlflow: MlflowOpt = None,
) -> int:
    """Train an experiment into a new run folder.

    Keeps the best epoch's weights, the history, the summary and the learning curves.
    """
    from cnnrun.app.train import train as train_run
    from cnnrun.cli.reporters import reporter_for
    from cnnrun.errors import GateFailed

    out, err = consoles()
    try:
        reporter = reporter_for(opts.json, opts.quiet, out, err)
        summary = train_run(**opts.args, reporter=reporter, debug=opts.debug)
    except GateFailed as e:  # the run is whole: say how it went, then which bar it missed
        _render(e.result, opts, out)
        raise
    _render(summary, opts, out)
    return 0


def _render(summary: RunSummary, opts: Output, out: Any) -> None:
    if opts.json:
        emit_json(summary.as_dict())
    elif not opts.quiet:
        render_summary(summary, out)
