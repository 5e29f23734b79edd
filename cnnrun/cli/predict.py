"""`cnnrun predict`: classify inputs with a network rebuilt from its weights file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli.common import (
    GateOpt,
    Output,
    OutputOpt,
    SetOpt,
    complete_config,
    complete_run_dir,
    complete_weights,
    consoles,
    output_options,
    path_option,
)

WeightsOpt = path_option(
    "FILE", "A .weights.h5 file, or a Keras model (.keras, .h5).", complete_weights
)
RunOpt = path_option("RUN_DIR", "A run folder: its best.weights.h5.", complete_run_dir)
ConfigOpt = path_option("CONFIG", "Config of plain Keras weights (no metadata).", complete_config)
HDF5Opt = Annotated[str, typer.Option(metavar="NAME", help="HDF5 input: the dataset's name.")]
BatchOpt = Annotated[int, typer.Option(min=1, metavar="N", help="Images per batch.")]
FormatOpt = Annotated[str, typer.Option("--format", metavar="csv|json", help="Format.")]
ProbsOpt = Annotated[bool, typer.Option("--probs", help="A column per class.")]
TopKOpt = Annotated[int, typer.Option(min=1, metavar="N", help="The N most likely classes.")]
ReportOpt = Annotated[
    Path | None, typer.Option(metavar="DIR", help="Write confusion_matrix.png, metrics.json.")
]
SkipBadOpt = Annotated[bool, typer.Option(help="Skip undecodable images, listing them.")]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace existing output files.")]
ClassNamesOpt = Annotated[
    str | None,
    typer.Option(metavar="A,B,...", help="Keras model files: the classes' names, in order."),
]
ScaleOpt = Annotated[
    float | None,
    typer.Option(
        min=0,
        metavar="S",
        help="Keras model files: multiplies the pixels [arrays 1, images 1/255].",
    ),
]
PixelsOpt = Annotated[
    int | None, typer.Option(min=1, metavar="N", help="Refuse larger images before decoding [25M].")
]


def _print_scores(scores: dict, err: Any) -> None:
    from rich import box
    from rich.table import Table

    err.print(
        f"accuracy {scores['accuracy']:.4f} on {scores['samples']} labelled inputs", markup=False
    )
    table = Table(box=box.SIMPLE_HEAD if err.is_terminal else None, pad_edge=False)
    for col in ("class", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    means = {f"{k} mean": v for k, v in scores.get("averages", {}).items()}
    for i, (name, s) in enumerate({**scores["per_class"], **means}.items()):
        table.add_row(
            name,
            *("-" if s[k] is None else f"{s[k]:.3f}" for k in ("precision", "recall", "f1")),
            str(s["support"]),
            end_section=i == len(scores["per_class"]) - 1,
        )
    err.print(table)
    if scores.get("calibration"):
        c = scores["calibration"]
        text = (
            f"calibration: expected calibration error {c['ece']:.4f} (mean confidence "
            f"{c['mean_confidence']:.3f}, accuracy {c['accuracy']:.3f})"
        )
        err.print(text, markup=False)
    names = scores["class_names"]
    if len(names) <= 20:
        # a line of its own: as the table's title it wraps to the table's narrow width
        err.print("confusion matrix (rows: true class, columns: predicted)", markup=False)
        cm = Table(box=box.SIMPLE_HEAD if err.is_terminal else None, pad_edge=False)
        cm.add_column("")
        for n in names:
            cm.add_column(n, justify="right")
        for n, row in zip(names, scores["confusion_matrix"], strict=True):
            cm.add_row(n, *map(str, row))
        err.print(cm)


def _render(
    result: Any, fmt: str, top_k: int, probs: bool, output: Path | None, quiet: bool, err: Any
) -> None:
    """Predictions to stdout (unless -o wrote them), then what was skipped, and the scores."""
    if not output:
        sys.stdout.write(result.text(fmt, top_k, probs))
    if quiet:
        return
    for f, reason in result.skipped:
        err.print(f"skipped {f}: {reason}", markup=False)
    notes = (["assumed: " + "; ".join(result.assumed)] if result.assumed else []) + result.notes
    if notes:
        err.print("; ".join(notes), markup=False)
    if result.scores is not None:
        _print_scores(result.scores, err)
    if output:
        err.print(f"wrote {len(result.inputs)} predictions to {output}", markup=False)


# INPUT is taken from the command line's extra arguments, so that the help shows it in the
# usage line and the text below rather than Typer's `<list[str]>` type label.
SETTINGS = {"context_settings": {"allow_extra_args": True}, "options_metavar": "[OPTIONS] INPUT..."}


@output_options("json", "quiet", "debug")
def predict(
    opts: Output,
    ctx: typer.Context,
    weights: WeightsOpt = None,
    run: RunOpt = None,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    batch_size: BatchOpt = 256,
    fmt: FormatOpt = "csv",
    output: OutputOpt = None,
    probs: ProbsOpt = False,
    top_k: TopKOpt = 1,
    report: ReportOpt = None,
    fail_under: GateOpt = None,
    skip_bad: SkipBadOpt = False,
    x_dataset: HDF5Opt = "x",
    y_dataset: HDF5Opt = "y",
    overwrite: OverwriteOpt = False,
    max_image_pixels: PixelsOpt = None,
    class_names: ClassNamesOpt = None,
    scale: ScaleOpt = None,
) -> int:
    """Classify images with a trained network.

    Rebuilt from its weights file alone; CSV (or JSON) to stdout or -o. INPUT is image
    files; or one folder, .npz, .npy or .h5 file; or a built-in split such as digits:test.
    """
    from cnnrun.app.predict import predict as predict_inputs
    from cnnrun.errors import GateFailed, Problem, UserError

    _, err = consoles()
    if (weights is None) == (run is None):
        raise UserError(Problem("give exactly one of --weights FILE and --run RUN_DIR"))
    args = {k: v for k, v in opts.args.items() if k not in ("ctx", "weights", "run")}
    args["class_names"] = class_names.split(",") if class_names else None
    args["fmt"] = fmt = "json" if opts.json else fmt
    try:
        source: Path = weights or run  # type: ignore[assignment]
        result = predict_inputs(source, ctx.args, **args, debug=opts.debug)
    except GateFailed as e:  # the predictions are whole: show them, then the bar missed
        _render(e.result, fmt, top_k, probs, output, opts.quiet, err)
        raise
    _render(result, fmt, top_k, probs, output, opts.quiet, err)
    return 0
