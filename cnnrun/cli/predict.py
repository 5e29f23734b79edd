"""`cnnrun predict`: classify inputs with a network rebuilt from its weights file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli import app
from cnnrun.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    DebugOpt,
    JsonOpt,
    QuietOpt,
    SetOpt,
    check_gates,
    consoles,
    guard,
    import_training,
    parse_gates,
)
from cnnrun.errors import Problem, UserError


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
            metavar="INPUT",
            help="Image files; or one folder, .npz, .npy, .h5, "
            "or a built-in split such as digits:test.",
        ),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(metavar="FILE", help="A .weights.h5 file.")
    ] = None,
    run: Annotated[
        Path | None, typer.Option(metavar="RUN_DIR", help="A run folder: its best.weights.h5.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(metavar="CONFIG", help="Config of plain Keras weights (no cnnrun metadata)."),
    ] = None,
    set_: SetOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Images per batch.")] = 256,
    format_: Annotated[
        str, typer.Option("--format", metavar="csv|json", help="Output format.")
    ] = "csv",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here, not to stdout."),
    ] = None,
    probs: Annotated[bool, typer.Option("--probs", help="A column per class.")] = False,
    top_k: Annotated[int, typer.Option(min=1, metavar="N", help="The N most likely classes.")] = 1,
    report: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Folder for confusion_matrix.png and metrics.json."),
    ] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(metavar="METRIC=VALUE", help="Exit 1 when accuracy is below VALUE."),
    ] = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip undecodable images, listing them.")] = False,
    x_dataset: Annotated[
        str, typer.Option(metavar="NAME", help="HDF5 input: images dataset.")
    ] = "x",
    y_dataset: Annotated[
        str, typer.Option(metavar="NAME", help="HDF5 input: labels dataset.")
    ] = "y",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Classify images with a trained network, rebuilt from its weights file alone."""

    def body() -> int:
        import json as jsonlib

        from cnnrun.data import inputs as inputs_mod
        from cnnrun.runs.folder import BEST, atomic_write_text
        from cnnrun.runs.weights import read_metadata

        out, err = consoles()
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
        training = import_training(debug)  # noqa: F841 - quiet TensorFlow start-up
        from cnnrun.engine.predict import load_predictor, predict_probabilities

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
            from cnnrun.runs.scores import classification_scores

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
            from cnnrun.runs.curves import draw_confusion

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

    guard(debug, body)
