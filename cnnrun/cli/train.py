"""`cnnrun train`: new runs and `--resume`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli import app
from cnnrun.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    DebugOpt,
    JsonOpt,
    QuietOpt,
    SetOpt,
    StrictOpt,
    check_gates,
    consoles,
    emit_json,
    guard,
    import_training,
    parse_gates,
    print_problems,
)
from cnnrun.errors import Problem, UserError


def _final_lines(summary: dict, run_dir: Path, out: Any) -> None:
    monitor, best = summary["monitor"], summary.get("best_epoch")
    out.print(f"run folder: {run_dir}", markup=False)
    if best:
        extra = {
            k: v
            for k, v in summary["best_metrics"].items()
            if k.startswith("val_") and k != monitor
        }
        detail = ", ".join(f"{k} {v:.4f}" for k, v in extra.items())
        out.print(
            f"best epoch {best}/{summary['epochs_run']}: {monitor} "
            f"{summary['best_value']:.4f}" + (f" ({detail})" if detail else ""),
            markup=False,
        )
    if summary.get("test"):
        n = summary["data"]["counts"]["test"]
        scores = ", ".join(f"{k} {v:.4f}" for k, v in summary["test"].items())
        out.print(f"test ({n} images, best weights): {scores}", markup=False)
    if summary.get("diagnosis"):
        d = summary["diagnosis"]
        out.print(f"diagnosis: {d['verdict']}: {d['reason']}", markup=False)


def _tf_config(workers: str | None, index: int | None) -> str:
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
    task = {"type": "worker", "index": index}
    return json.dumps({"cluster": {"worker": hosts}, "task": task})


def _resume_plan(
    run_dir: Path,
    config: Path | None,
    sets: list[str],
    epochs: int | None,
    force: bool,
    strict: bool,
) -> tuple[Any, dict]:
    """The plan to continue a run with, refusing (exit 2) a config that differs from it."""
    from cnnrun.config.load import load_config, parse_config
    from cnnrun.config.plan import make_plan
    from cnnrun.runs.compare import config_diff
    from cnnrun.runs.folder import CONFIG, read_summary

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
    original = parse_config(text, str(run_dir / CONFIG), run_dir).config
    plan = make_plan(
        load_config(config, sets)
        if config
        else parse_config(text, str(run_dir / CONFIG), run_dir, sets),
        strict=strict,
    )
    ignored = ("name", "train.epochs")
    diff = [
        d for d in config_diff(original.resolved(), plan.config.resolved()) if d[0] not in ignored
    ]
    if diff and not force:
        where = f"cannot resume {run_dir}"
        problems = [
            Problem(f"{path}: the run has {a!r}, the new config {b!r}", file=where)
            for path, a, b in diff
        ]
        problems.append(
            Problem(
                "resuming with another config would mix two experiments in one run",
                file=where,
                hint="pass --force to resume anyway, or train a new run",
            )
        )
        raise UserError(problems)
    target = epochs or max(plan.config.train.epochs, original.train.epochs)
    train_cfg = plan.config.train.model_copy(update={"epochs": target})
    plan.config = plan.config.model_copy(update={"train": train_cfg})
    return plan, summary


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="The experiment's YAML config.", show_default=False),
    ] = None,
    set_: SetOpt = None,
    runs_dir: Annotated[
        Path, typer.Option(metavar="DIR", help="Where run folders are made.")
    ] = Path("runs"),
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Run name (default: the config's).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(metavar="RUN_DIR", help="Continue this run folder from its last epoch."),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="With --resume: train up to this many epochs."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="With --resume: accept a different config or data.")
    ] = False,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METRIC=VALUE",
            help="Exit 1 when the best run's METRIC is below VALUE, e.g. "
            "val_accuracy=0.9 or test_accuracy=0.85 (repeatable).",
        ),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT,...",
            help="Train on these workers (distribute: multi_worker), one process each.",
        ),
    ] = None,
    worker_index: Annotated[
        int | None,
        typer.Option(min=0, metavar="I", help="With --workers: this process's place in the list."),
    ] = None,
    strict: StrictOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train an experiment into a new run folder, keeping the best epoch's weights."""

    def body() -> int:
        from cnnrun.config.load import load_config
        from cnnrun.config.plan import make_plan

        out, err = consoles()
        show = not (json_ or quiet)
        sets = list(set_ or [])
        if workers is not None or worker_index is not None:
            os.environ["TF_CONFIG"] = _tf_config(workers, worker_index)
            sets.append("distribute=multi_worker")
        if resume is None and config is None:
            raise UserError(Problem("give a CONFIG to train, or --resume RUN_DIR"))
        if resume is None and (epochs or force):
            raise UserError(Problem("--epochs and --force go with --resume"))
        summary_before: dict = {}
        if resume is not None:
            plan, summary_before = _resume_plan(resume, config, sets, epochs, force, strict)
            done = summary_before.get("epochs_run") or 0
            if summary_before.get("status") == "completed" and done >= plan.config.train.epochs:
                if show:
                    out.print(
                        f"{resume} is completed ({done} epochs); nothing to do. "
                        f"--epochs N trains it further.",
                        markup=False,
                    )
                if json_:
                    emit_json(summary_before)
                return EXIT_OK
        else:
            plan = make_plan(load_config(config, sets), strict=strict)
        gates = parse_gates(fail_under or [])
        if not json_:
            print_problems(plan.warnings, err)
        from cnnrun.cli import reporters as console

        training = import_training(debug)

        prep = training.prepare(plan)
        c = prep.splits.counts
        if resume is not None and not force:
            before = (summary_before.get("data") or {}).get("fingerprint")
            if before and before != prep.splits.fingerprint:
                raise UserError(
                    Problem(
                        f"the data differs from the run's (fingerprint {prep.splits.fingerprint}, "
                        f"the run trained on {before})",
                        file=f"cannot resume {resume}",
                        hint="pass --force to resume anyway",
                    )
                )
        known = {*(plan.config.train.metrics), *(f"val_{m}" for m in plan.config.train.metrics)}
        if c["test"]:
            known |= {"test_loss", *(f"test_{m}" for m in plan.config.train.metrics)}
        unknown = [g for g in gates if g not in known]
        if unknown:
            raise UserError(
                Problem(
                    f"cannot gate on {', '.join(unknown)}; this run will have "
                    f"{', '.join(sorted(known))}",
                    file="--fail-under",
                )
            )
        if show:
            out.print(
                f"data: {plan.config.data.source}: {c['train']} train, {c['validation']} "
                f"validation, {c['test']} test images, {len(plan.class_names)} classes; "
                f"{plan.table.total_params:,} parameters",
                markup=False,
            )
            if resume is not None:
                out.print(
                    f"resuming {resume} after epoch {summary_before.get('epochs_run')}",
                    markup=False,
                )
        reporter: Any = console.NullReporter()
        if show:
            reporter = console.RichReporter(out) if out.is_terminal else console.PlainReporter(out)
        try:
            if resume is not None:
                summary = training.resume(prep, resume, reporter)
            else:
                summary = training.run(prep, runs_dir, reporter, name)
        except training.Diverged as e:
            err.print(f"[red]failed[/]: {e}", markup=True)
            return EXIT_FAILED
        except training.Interrupted as e:
            err.print(
                f"interrupted: {e.run_dir} keeps its best and last weights; continue "
                f"with: cnnrun train --resume {e.run_dir}",
                markup=False,
            )
            return EXIT_INTERRUPTED
        if summary.get("worker"):  # a non-chief worker: the chief wrote the run folder
            if json_:
                emit_json(summary)
            elif show:
                out.print(f"{summary['worker']} done; worker 0 wrote the run folder", markup=False)
            return EXIT_OK
        run_dir = Path(summary["run_dir"])
        if json_:
            emit_json(summary)
        elif show:
            _final_lines(summary, run_dir, out)
        scores = {**summary["best_metrics"], **summary["test"]}
        return EXIT_OK if check_gates(gates, scores, err) else EXIT_FAILED

    guard(debug, body)
