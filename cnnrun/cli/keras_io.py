"""`cnnrun import` and `cnnrun export`: Keras model files in, deployable artifacts out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnnrun.cli.common import Output, consoles, emit_json, output_options

if TYPE_CHECKING:
    from cnnrun.app.keras_io import Checked

ModelArg = Annotated[Path, typer.Argument(metavar="MODEL", help="A .keras or legacy .h5 model.")]
OutDirOpt = Annotated[
    Path, typer.Option("-o", "--output", metavar="DIR", help="Write the config and weights here.")
]
DataOpt = Annotated[
    str | None,
    typer.Option(metavar="SOURCE[:PATH]", help="The config's data, e.g. npz:train.npz, digits."),
]
NamesOpt = Annotated[
    str | None, typer.Option(metavar="A,B,...", help="The classes' names, in output order.")
]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace existing files.")]


@output_options("json", "quiet", "debug")
def import_(
    opts: Output,
    model: ModelArg,
    out_dir: OutDirOpt = Path("."),
    data: DataOpt = None,
    class_names: NamesOpt = None,
    overwrite: OverwriteOpt = False,
) -> int:
    """Turn a Keras model into a cnnrun config and weights file.

    Writes MODEL.yaml (every layer mapped, Keras's argument names kept) and MODEL.weights.h5
    (self-describing: predict and export need nothing else). Refuses Lambda layers, custom
    objects and layers cnnrun has no kind for, before anything is loaded.
    """
    from cnnrun.app.keras_io import import_model
    from cnnrun.cli.check import render_layer_table

    out, err = consoles()
    names = class_names.split(",") if class_names else None
    outcome = import_model(**{**opts.args, "class_names": names}, debug=opts.debug)
    if opts.json:
        doc = {"config": str(outcome.config), "weights": str(outcome.weights)}
        emit_json({**doc, "notes": outcome.notes})
        return 0
    if not opts.quiet:
        for note in outcome.notes:
            err.print(f"note: {note}", markup=False)
        render_layer_table(outcome.plan, out)
        out.print(f"wrote {outcome.config} and {outcome.weights}", markup=False)
        if outcome.plan.config.data.source == "none":
            out.print(
                f"next: set data: in {outcome.config} to train it; predict and export "
                f"work now: cnnrun predict --weights {outcome.weights} INPUT",
                markup=False,
            )
    return 0


TargetArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="RUN_DIR|WEIGHTS|MODEL", help="A run folder, a .weights.h5 or a Keras model."
    ),
]
FormatOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        "-f",
        metavar="keras|savedmodel|onnx|litert|all",
        help="Formats (repeatable) [all].",
    ),
]
ExportDirOpt = Annotated[
    Path | None, typer.Option("-o", "--output", metavar="DIR", help="Write here [RUN_DIR/export].")
]
QuantizeOpt = Annotated[
    str | None, typer.Option(metavar="float16|int8", help="LiteRT: quantize (int8: full-integer).")
]
VerifyOpt = Annotated[
    Path | None, typer.Option(metavar="DIR", help="Check an export folder's artifacts again.")
]


@output_options("json", "quiet", "debug")
def export(
    opts: Output,
    target: TargetArg = None,
    formats: FormatOpt = None,
    output: ExportDirOpt = None,
    quantize: QuantizeOpt = None,
    verify: VerifyOpt = None,
    overwrite: OverwriteOpt = False,
) -> int:
    """Export to .keras, SavedModel, ONNX and LiteRT, each checked.

    Each artifact is loaded in its own runtime and run on the run's test images; above 1e-4
    from cnnrun's probabilities (quantized: one point of accuracy) it fails with exit 1.
    --verify DIR repeats the check later.
    """
    from cnnrun.app.keras_io import export as export_network

    out, err = consoles()
    results, folder, origin = export_network(**opts.args, debug=opts.debug)
    failed = [r for r in results if not r.ok]
    if opts.json:
        emit_json(
            {
                "folder": str(folder),
                "reference": origin,
                "artifacts": [r.as_dict() for r in results],
                "ok": not failed,
            }
        )
    elif not opts.quiet or failed:
        render_checks(results, folder, origin, out)
    for r in failed:
        if r.refused:
            err.print(f"error: {r.format} refused, not run: {r.refused}", markup=False)
        else:
            err.print(f"error: {r.format} disagrees with cnnrun: {_figure(r)}", markup=False)
    return 1 if failed else 0


def _figure(r: Checked) -> str:
    if r.accuracy is not None:
        return f"accuracy {r.accuracy:.4f} against {r.reference_accuracy:.4f} in float32"
    return f"largest probability difference {r.max_diff:.2e} (at most 1e-4)"


def render_checks(results: list[Checked], folder: Path, origin: str, out: Any) -> None:
    """One line per artifact: its path and how far it is from cnnrun's predictions."""
    out.print(f"checked on {origin}:", markup=False)
    for r in results:
        mark = "ok" if r.ok else "FAILED"
        extra = f", quantized {r.quantize}: {_figure(r)}" if r.accuracy is not None else ""
        line = f"  {r.format:10s} {r.path}  max |p - p_cnnrun| = {r.max_diff:.2e}{extra}  {mark}"
        if r.refused:
            line = f"  {r.format:10s} {r.path}  refused, not run: {r.refused}  {mark}"
        out.print(line, markup=False)
    out.print(f"wrote {folder}", markup=False)
