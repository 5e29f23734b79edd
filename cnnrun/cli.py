"""The face of cnnrun: a Typer app with one small function per command.

Only the commands that train or predict import TensorFlow, and only inside their function, so
`--help`, `validate`, `schema`, `plot` and `runs` answer without paying for it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun import __version__
from cnnrun.errors import Problem, UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, compare and use convolutional networks described in one YAML file.",
)

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set train.epochs=5 (repeatable).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")]


def _consoles() -> tuple[Any, Any]:
    from rich.console import Console

    # Off a terminal (CI logs, pipes) lines are not wrapped at 80 columns.
    def width(stream: Any) -> int | None:
        return None if stream.isatty() else 200

    return (
        Console(highlight=False, width=width(sys.stdout)),
        Console(stderr=True, highlight=False, width=width(sys.stderr)),
    )


def _print_problems(problems: list[Problem], err: Any) -> None:
    for p in problems:
        label = "[yellow]warning[/]" if p.warning else "[red]error[/]"
        err.print(f"{label}: {p.format()}", markup=True, soft_wrap=True)


def _guard(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and turn every outcome into the documented exit code."""
    _, err = _consoles()
    try:
        code = body()
    except UserError as e:
        _print_problems(e.problems, err)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        code = EXIT_INTERRUPTED
    except Exception as e:  # the work failed: one line, the traceback only on request
        if debug or os.environ.get("CNNRUN_DEBUG"):
            raise
        err.print(f"[red]error[/]: {type(e).__name__}: {e}", markup=True, soft_wrap=True)
        err.print("(run again with --debug for the traceback)")
        code = EXIT_FAILED
    raise typer.Exit(code)


def _import_training(debug: bool) -> Any:
    """Import the TensorFlow-backed modules, keeping TensorFlow's start-up chatter off stderr.

    TensorFlow's C++ side writes "Could not find cuda drivers" and similar lines straight to
    file descriptor 2 before its own log level applies, so stderr is pointed at /dev/null for
    the import only. `--debug` keeps everything.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if debug:
        from cnnrun import training

        return training
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, once
        from cnnrun import training
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return training


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


# ---- validate ---------------------------------------------------------------------------------


def _plan_doc(plan: Any) -> dict:
    t = plan.table
    return {
        "file": plan.loaded.file,
        "valid": True,
        "input_shape": list(t.input_shape),
        "classes": plan.class_names,
        "layers": [
            {
                "index": r.index,
                "kind": r.kind,
                "args": r.args,
                "output_shape": [None, *r.output_shape],
                "params": r.params,
                "trainable_params": r.trainable,
            }
            for r in t.rows
        ],
        "total_params": t.total_params,
        "trainable_params": t.trainable_params,
        "warnings": [w.as_dict() for w in plan.warnings],
        "errors": [],
    }


def render_layer_table(plan: Any, out: Any) -> None:
    """Print a plan's layer table with rich (plain text when not a terminal)."""
    from rich import box
    from rich.table import Table

    t = plan.table
    cfg = plan.config
    data = cfg.data.dataset if cfg.data.source == "keras" else (cfg.data.path or "built-in")
    shape = "x".join(map(str, t.input_shape))
    out.print(f"data: {cfg.data.source} ({data}), input {shape}, {len(plan.class_names)} classes")
    table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
    for name, justify in (
        ("#", "right"),
        ("layer", "left"),
        ("arguments", "left"),
        ("output shape", "left"),
        ("params", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in t.rows:
        shape_text = "(None, " + ", ".join(map(str, r.output_shape)) + ")"
        table.add_row(str(r.index), r.kind, r.args, shape_text, f"{r.params:,}")
    out.print(table)
    non = t.total_params - t.trainable_params
    out.print(
        f"total params: {t.total_params:,} (trainable {t.trainable_params:,}, "
        f"non-trainable {non:,})"
    )


@app.command()
def validate(
    configs: Annotated[list[Path], typer.Argument(help="Config files to check.")],
    set_: SetOpt = None,
    strict: Annotated[bool, typer.Option(help="Treat placement warnings as errors.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check configs and print each one's layer table, without importing TensorFlow."""

    def body() -> int:
        from cnnrun.configfile import load_config
        from cnnrun.plan import make_plan

        out, err = _consoles()
        docs, failed = [], False
        for path in configs:
            try:
                plan = make_plan(load_config(path, set_ or []), strict=strict)
            except UserError as e:
                failed = True
                docs.append(
                    {
                        "file": str(path),
                        "valid": False,
                        "errors": [p.as_dict() for p in e.problems],
                        "warnings": [],
                    }
                )
                if not json_:
                    _print_problems(e.problems, err)
                continue
            docs.append(_plan_doc(plan))
            if not json_:
                _print_problems(plan.warnings, err)
                if not quiet:
                    out.print(f"{path}: valid")
                    render_layer_table(plan, out)
        if json_:
            _emit_json({"valid": not failed, "results": docs})
        return EXIT_USAGE if failed else EXIT_OK

    _guard(debug, body)


@app.command()
def schema(debug: DebugOpt = False) -> None:
    """Print the JSON Schema of the config file (for editors and CI linting)."""

    def body() -> int:
        from cnnrun.config import json_schema

        _emit_json(json_schema())
        return EXIT_OK

    _guard(debug, body)


# ---- train ------------------------------------------------------------------------------------


def parse_gates(items: list[str]) -> dict[str, float]:
    """`--fail-under val_accuracy=0.9` -> `{"val_accuracy": 0.9}`; losses are refused."""
    gates = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            gates[key.strip()] = float(value)
        except ValueError:
            raise UserError(
                Problem("expected METRIC=VALUE, e.g. val_accuracy=0.9", file=f"--fail-under {item}")
            ) from None
        if "loss" in key:
            raise UserError(
                Problem(
                    "a loss is better when lower; gate on an accuracy", file=f"--fail-under {item}"
                )
            )
    return gates


def check_gates(gates: dict[str, float], scores: dict[str, float], err: Any) -> bool:
    """True when every gate is met; prints each missed one."""
    ok = True
    for key, bar in gates.items():
        value = scores.get(key)
        if value is None or value < bar:
            ok = False
            shown = "missing" if value is None else f"{value:.4f}"
            err.print(f"gate failed: {key} {shown} < {bar}", markup=False)
    return ok


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


def _resume_plan(
    run_dir: Path,
    config: Path | None,
    sets: list[str],
    epochs: int | None,
    force: bool,
    strict: bool,
) -> tuple[Any, dict]:
    """The plan to continue a run with, refusing (exit 2) a config that differs from it."""
    from cnnrun.compare import config_diff
    from cnnrun.configfile import load_config, parse_config
    from cnnrun.plan import make_plan
    from cnnrun.runs import CONFIG, read_summary

    if not (run_dir / CONFIG).is_file():
        raise UserError(Problem(f"is not a run folder (it has no {CONFIG})", file=str(run_dir)))
    try:
        summary = read_summary(run_dir)
    except (OSError, ValueError) as e:
        raise UserError(
            Problem(f"cannot resume: summary.json is unreadable ({e})", file=str(run_dir))
        ) from None
    text = (run_dir / CONFIG).read_text(encoding="utf-8")
    original = make_plan(parse_config(text, str(run_dir / CONFIG), run_dir), strict=strict)
    plan = make_plan(
        load_config(config, sets)
        if config
        else parse_config(text, str(run_dir / CONFIG), run_dir, sets),
        strict=strict,
    )
    ignored = ("name", "train.epochs")
    diff = [
        d
        for d in config_diff(original.config.resolved(), plan.config.resolved())
        if d[0] not in ignored
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
    target = epochs or max(plan.config.train.epochs, original.config.train.epochs)
    train_cfg = plan.config.train.model_copy(update={"epochs": target})
    plan.config = plan.config.model_copy(update={"train": train_cfg})
    return plan, summary


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Argument(help="The experiment's YAML config.", show_default=False)
    ] = None,
    set_: SetOpt = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are made.")] = Path("runs"),
    name: Annotated[str | None, typer.Option(help="Run name (default: the config's).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run folder from its last epoch.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="With --resume: train up to this many epochs.")
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
    strict: Annotated[bool, typer.Option(help="Treat placement warnings as errors.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train an experiment into a new run folder, keeping the best epoch's weights."""

    def body() -> int:
        from cnnrun.configfile import load_config
        from cnnrun.plan import make_plan

        out, err = _consoles()
        show = not (json_ or quiet)
        if resume is None and config is None:
            raise UserError(Problem("give a CONFIG to train, or --resume RUN_DIR"))
        if resume is None and (epochs or force):
            raise UserError(Problem("--epochs and --force go with --resume"))
        summary_before: dict = {}
        if resume is not None:
            plan, summary_before = _resume_plan(resume, config, set_ or [], epochs, force, strict)
            done = summary_before.get("epochs_run") or 0
            if summary_before.get("status") == "completed" and done >= plan.config.train.epochs:
                if show:
                    out.print(
                        f"{resume} is completed ({done} epochs); nothing to do. "
                        f"--epochs N trains it further.",
                        markup=False,
                    )
                if json_:
                    _emit_json(summary_before)
                return EXIT_OK
        else:
            plan = make_plan(load_config(config, set_ or []), strict=strict)
        gates = parse_gates(fail_under or [])
        if not json_:
            _print_problems(plan.warnings, err)
        from cnnrun import console

        training = _import_training(debug)

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
        run_dir = Path(summary["run_dir"])
        if json_:
            _emit_json(summary)
        elif show:
            _final_lines(summary, run_dir, out)
        scores = {**summary["best_metrics"], **summary["test"]}
        return EXIT_OK if check_gates(gates, scores, err) else EXIT_FAILED

    _guard(debug, body)


# ---- predict ----------------------------------------------------------------------------------


def _prediction_rows(
    names: list[str], probs: Any, classes: list[str], labels: Any, top_k: int, with_probs: bool
) -> list[dict]:
    import numpy as np

    order = np.argsort(-probs, axis=1, kind="stable")[:, : max(1, top_k)]
    rows = []
    for i, name in enumerate(names):
        best = order[i]
        row: dict[str, Any] = {
            "input": name,
            "predicted": classes[best[0]],
            "probability": round(float(probs[i, best[0]]), 6),
        }
        if labels is not None:
            row["label"] = classes[labels[i]]
        for rank, c in enumerate(best[1:], start=2):
            row[f"top_{rank}"] = classes[c]
            row[f"probability_{rank}"] = round(float(probs[i, c]), 6)
        if with_probs:
            for c, cname in enumerate(classes):
                row[f"p:{cname}"] = round(float(probs[i, c]), 6)
        rows.append(row)
    return rows


def _csv_text(rows: list[dict]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(rows[0]) if rows else ["input"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _print_scores(scores: dict, err: Any) -> None:
    from rich import box
    from rich.table import Table

    err.print(
        f"accuracy {scores['accuracy']:.4f} on {scores['samples']} labelled inputs", markup=False
    )
    table = Table(box=box.SIMPLE_HEAD if err.is_terminal else None, pad_edge=False)
    for col in ("class", "precision", "recall", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, s in scores["per_class"].items():
        table.add_row(
            name,
            *("-" if s[k] is None else f"{s[k]:.3f}" for k in ("precision", "recall")),
            str(s["support"]),
        )
    err.print(table)
    names = scores["class_names"]
    if len(names) <= 20:
        cm = Table(
            title="confusion matrix (rows: true class, columns: predicted)",
            box=box.SIMPLE_HEAD if err.is_terminal else None,
            pad_edge=False,
            title_justify="left",
        )
        cm.add_column("")
        for n in names:
            cm.add_column(n, justify="right")
        for n, row in zip(names, scores["confusion_matrix"], strict=True):
            cm.add_row(n, *map(str, row))
        err.print(cm)


def _refuse_overwrite(paths: list[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise UserError(
            [
                Problem(
                    "exists already; cnnrun does not overwrite it",
                    file=str(p),
                    hint="choose another name, or pass --overwrite",
                )
                for p in existing
            ]
        )


@app.command()
def predict(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUT...",
            help="Image files; or one folder, .npz, .npy, .h5, "
            "or a built-in split such as digits:test.",
        ),
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="A .weights.h5 file.")] = None,
    run: Annotated[Path | None, typer.Option(help="A run folder: its best.weights.h5.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="Config of plain Keras weights (no cnnrun metadata).")
    ] = None,
    set_: SetOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 256,
    format_: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here, not to stdout.")
    ] = None,
    probs: Annotated[bool, typer.Option("--probs", help="A column per class.")] = False,
    top_k: Annotated[int, typer.Option(min=1, help="The N most likely classes.")] = 1,
    report: Annotated[
        Path | None, typer.Option(help="Folder for confusion_matrix.png and metrics.json.")
    ] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(metavar="METRIC=VALUE", help="Exit 1 when accuracy is below VALUE."),
    ] = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip undecodable images, listing them.")] = False,
    x_dataset: Annotated[str, typer.Option(help="HDF5 input: images dataset.")] = "x",
    y_dataset: Annotated[str, typer.Option(help="HDF5 input: labels dataset.")] = "y",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Classify images with a trained network, rebuilt from its weights file alone."""

    def body() -> int:
        import json as jsonlib

        from cnnrun import inputs as inputs_mod
        from cnnrun.checkpoint import read_metadata
        from cnnrun.runs import BEST, atomic_write_text

        out, err = _consoles()
        fmt = "json" if json_ else format_
        if fmt not in ("csv", "json"):
            raise UserError(Problem(f"expected csv or json, got {fmt!r}", file="--format"))
        if (weights is None) == (run is None):
            raise UserError(Problem("give exactly one of --weights FILE and --run RUN_DIR"))
        path = weights if weights is not None else run / BEST  # type: ignore[operator]
        gates = parse_gates(fail_under or [])
        unknown = [g for g in gates if g != "accuracy"]
        if unknown:
            raise UserError(
                Problem(
                    f"predict gates on accuracy only, got {', '.join(unknown)}", file="--fail-under"
                )
            )
        targets = [output] if output else []
        if report:
            targets += [report / "confusion_matrix.png", report / "metrics.json"]
        _refuse_overwrite(targets, overwrite)

        # Everything the user can get wrong is checked before TensorFlow starts.
        meta = read_metadata(path)
        if not meta and config is None:
            raise UserError(
                Problem(
                    "holds plain Keras weights without cnnrun metadata",
                    file=str(path),
                    hint="pass the config that built it with --config",
                )
            )
        training = _import_training(debug)  # noqa: F841 - quiet TensorFlow start-up
        from cnnrun.predict import load_predictor, predict_probabilities

        pred = load_predictor(path, config, set_ or [])
        shape = tuple(pred.config.model.input_shape or ())
        data = inputs_mod.read_inputs(
            list(inputs or []),
            shape,
            pred.class_names,  # type: ignore
            pred.scale,
            skip_bad,
            x_dataset,
            y_dataset,
        )
        probabilities = predict_probabilities(pred, data.x, data.scale, batch_size)
        rows = _prediction_rows(data.names, probabilities, pred.class_names, data.y, top_k, probs)
        scores = None
        if data.y is not None:
            from cnnrun.scores import classification_scores

            scores = classification_scores(data.y, probabilities.argmax(axis=1), pred.class_names)
        if gates and scores is None:
            raise UserError(
                Problem(
                    "--fail-under needs labelled inputs (class sub-folders, "
                    "an .npz with y, or a built-in split)"
                )
            )
        if fmt == "json":
            text = (
                jsonlib.dumps(
                    {
                        "weights": str(path),
                        "predictions": rows,
                        "scores": scores,
                        "skipped": [{"file": f, "reason": r} for f, r in data.skipped],
                    },
                    indent=2,
                )
                + "\n"
            )
        else:
            text = _csv_text(rows)
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(output, text)
        else:
            sys.stdout.write(text)
        if report and scores is not None:
            from cnnrun.curves import draw_confusion

            report.mkdir(parents=True, exist_ok=True)
            draw_confusion(scores, report / "confusion_matrix.png", title=path.parent.name)
            atomic_write_text(report / "metrics.json", jsonlib.dumps(scores, indent=2))
        if not quiet:
            for f, reason in data.skipped:
                err.print(f"skipped {f}: {reason}", markup=False)
            if data.note:
                err.print(data.note, markup=False)
            if scores is not None:
                _print_scores(scores, err)
            if output:
                err.print(f"wrote {len(rows)} predictions to {output}", markup=False)
        if scores is not None and not check_gates(gates, {"accuracy": scores["accuracy"]}, err):
            return EXIT_FAILED
        return EXIT_OK

    _guard(debug, body)


# ---- plot -------------------------------------------------------------------------------------


def _run_dir(path: Path) -> Path:
    from cnnrun.runs import HISTORY

    if not path.is_dir():
        raise UserError(Problem("no such run folder", file=str(path)))
    if not (path / HISTORY).is_file():
        raise UserError(Problem(f"is not a run folder (it has no {HISTORY})", file=str(path)))
    return path


@app.command()
def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="One run folder, or several to compare.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Overlay file (.png, .svg or .pdf)."),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="Only these metrics (repeatable).")
    ] = None,
    smooth: Annotated[float, typer.Option(min=0.0, max=0.99, help="EMA weight, 0 = off.")] = 0.0,
    log_y: Annotated[bool, typer.Option(help="Logarithmic y axis.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Redraw one run's curves into its folder, or overlay several runs in one figure."""

    def body() -> int:
        from datetime import datetime

        from cnnrun import curves

        out, _ = _consoles()
        dirs = [_run_dir(d) for d in run_dirs]
        if output is not None and output.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise UserError(Problem("expected a .png, .svg or .pdf file", file=str(output)))
        if len(dirs) == 1 and output is None:
            written = curves.draw_run(dirs[0])
        else:
            stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
            target = output or dirs[0].parent / f"overlay_{stamp}.png"
            written = [curves.draw_overlay(dirs, target, metric, smooth, log_y)]
        if json_:
            _emit_json({"written": [str(p) for p in written]})
        elif not quiet:
            for p in written:
                out.print(f"wrote {p}", markup=False)
        return EXIT_OK

    _guard(debug, body)


# ---- runs, compare, report -------------------------------------------------------------------

RUN_SORTS = {
    "started": None,
    "name": lambda r: r.name,
    "best": lambda r: r.best_value if r.best_value is not None else float("inf"),
    "test": lambda r: next((v for k, v in r.test.items() if "loss" not in k), float("-inf")),
    "duration": lambda r: r.duration_s or 0.0,
}


@app.command("runs")
def runs_(
    runs_dir: Annotated[Path, typer.Argument(help="Folder of run folders.")] = Path("runs"),
    sort: Annotated[
        str, typer.Option(help="started (newest first), name, best, test or duration.")
    ] = "started",
    status: Annotated[
        list[str] | None, typer.Option(help="Only runs with this status (repeatable).")
    ] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the runs in a folder: status, epochs, best epoch and value, test score, verdict."""

    def body() -> int:
        from rich import box
        from rich.table import Table

        from cnnrun.runs import list_runs

        out, _ = _consoles()
        if sort not in RUN_SORTS:
            raise UserError(
                Problem(f"expected one of {', '.join(RUN_SORTS)}, got {sort!r}", file="--sort")
            )
        if not runs_dir.is_dir():
            raise UserError(Problem("no such folder", file=str(runs_dir)))
        infos = list_runs(runs_dir)
        if status:
            infos = [r for r in infos if r.status in status]
        if sort != "started":  # list_runs gives newest first, non-runs last
            infos.sort(key=RUN_SORTS[sort], reverse=sort in ("test", "duration"))
        if json_:
            _emit_json([r.as_dict() for r in infos])
            return EXIT_OK
        table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
        for col in (
            "run",
            "started",
            "status",
            "epochs",
            "best",
            "monitored",
            "test",
            "verdict",
            "time",
        ):
            table.add_column(col, justify="right" if col in ("epochs", "best", "time") else "left")
        colours = {
            "completed": "green",
            "failed": "red",
            "interrupted": "yellow",
            "running": "cyan",
        }
        for r in infos:
            epochs = f"{r.epochs_run}/{r.epochs_planned}" if r.epochs_planned else "-"
            monitored = f"{r.monitor} {r.best_value:.4f}" if r.best_value is not None else "-"
            test = (
                ", ".join(
                    f"{k.removeprefix('test_')} {v:.4f}"
                    for k, v in r.test.items()
                    if "loss" not in k
                )
                or "-"
            )
            st = f"[{colours[r.status]}]{r.status}[/]" if r.status in colours else r.status
            table.add_row(
                r.path.name,
                r.started.replace("T", " ") or "-",
                st,
                epochs,
                str(r.best_epoch or "-"),
                monitored,
                test,
                r.verdict or r.problem[:60] or "-",
                f"{r.duration_s:.0f}s" if r.duration_s is not None else "-",
            )
        out.print(table)
        out.print(f"{len(infos)} run folder(s) in {runs_dir}", markup=False)
        return EXIT_OK

    _guard(debug, body)


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="The reference (golden) run.")],
    run_b: Annotated[Path, typer.Argument(help="The run to check against it.")],
    metric: Annotated[
        str | None, typer.Option(help="Metric for --tolerance (default: A's monitor).")
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option(min=0.0, help="Exit 1 when B is worse than A by more.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Overlay figure (.png/.svg/.pdf).")
    ] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare two runs: config keys that differ, metrics side by side, an overlay figure."""

    def body() -> int:
        from datetime import datetime

        from rich import box
        from rich.table import Table

        from cnnrun import compare as cmp
        from cnnrun.curves import draw_overlay

        out, err = _consoles()
        a_dir, b_dir = _run_dir(run_a), _run_dir(run_b)
        (cfg_a, sum_a), (cfg_b, sum_b) = cmp.load(a_dir), cmp.load(b_dir)
        diff = cmp.config_diff(cfg_a, cfg_b)
        sa, sb = cmp.scores(sum_a), cmp.scores(sum_b)
        failure = ""
        if tolerance is not None:
            failure = cmp.regression(sa, sb, metric or sum_a.get("monitor", "val_loss"), tolerance)
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
        if json_:
            _emit_json(
                {
                    "a": str(a_dir),
                    "b": str(b_dir),
                    "config_diff": [{"path": p, "a": x, "b": y} for p, x, y in diff],
                    "metrics": metrics,
                    "figure": str(figure),
                    "regression": failure or None,
                }
            )
        else:
            style = box.SIMPLE_HEAD if out.is_terminal else None
            out.print(f"A: {a_dir}\nB: {b_dir}", markup=False)
            if diff:
                t = Table("config key", "A", "B", box=style, pad_edge=False)
                for p, x, y in diff:
                    t.add_row(p, "-" if x is None else str(x), "-" if y is None else str(y))
                out.print(t)
            else:
                out.print("configs: identical", markup=False)
            t = Table("metric", "A", "B", "B - A", box=style, pad_edge=False)
            for m in metrics:
                t.add_row(
                    m["metric"],
                    *("-" if m[k] is None else f"{m[k]:.4f}" for k in ("a", "b", "b_minus_a")),
                )
            out.print(t)
            out.print(f"overlay: {figure}", markup=False)
        if failure:
            err.print(f"regression: {failure}", markup=False)
            return EXIT_FAILED
        return EXIT_OK

    _guard(debug, body)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="The run folder.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file (default RUN_DIR/report.html).")
    ] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write one self-contained HTML report of a run (images embedded; no network needed)."""

    def body() -> int:
        from cnnrun.report import write_report

        out, _ = _consoles()
        path = write_report(_run_dir(run_dir), output)
        if not quiet:
            out.print(f"wrote {path}", markup=False)
        return EXIT_OK

    _guard(debug, body)


def _version(value: bool) -> None:
    if value:
        print(f"cnnrun {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Train, compare and use convolutional networks described in one YAML file."""


def main() -> None:
    """Console-script entry point."""
    app()
