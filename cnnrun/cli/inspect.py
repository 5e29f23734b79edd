"""`cnnrun inspect`: look inside a trained network: batchnorm's variance shift, the most
confidently wrong images, and where it looks (Grad-CAM)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnrun.cli import app
from cnnrun.cli.common import Output, RunDirArg, consoles, emit_json, guard, output_options
from cnnrun.errors import EXIT_OK, Problem, UserError

InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[INPUT]...", help="With --cam: images, a folder, .npz, .h5 or name:split."
    ),
]
LayerOpt = Annotated[
    str | None,
    typer.Option(metavar="N", help="With --cam: the row of validate's table to look through."),
]
MethodOpt = Annotated[
    str,
    typer.Option(
        "--cam-method", metavar="M",
        help="elementwise (each position's gradient) or gradcam (averaged, as in the paper).",
    ),
]  # fmt: skip
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", metavar="FILE", help="The figure (.png, .svg or .pdf)."),
]


@app.command()
@output_options("json", "debug")
def inspect(
    opts: Output,
    run_dir: RunDirArg,
    inputs: InputsArg = None,
    bn: Annotated[
        bool, typer.Option("--bn", help="Batchnorm moving variance against the real one.")
    ] = False,
    errors: Annotated[
        bool, typer.Option("--errors", help="The most confidently wrong test images.")
    ] = False,
    cam: Annotated[bool, typer.Option("--cam", help="Grad-CAM: where the network looks.")] = False,
    layer: LayerOpt = None,
    output: OutputOpt = None,
    cam_method: MethodOpt = "elementwise",
) -> None:
    """Look inside a trained network.

    --bn measures batchnorm's variance shift; --errors draws the most confidently wrong test
    images (validation images without a test split); --cam draws Grad-CAM heatmaps over the
    INPUTs (the run's first test images by default), or over the errors with --errors.
    """

    def body() -> int:
        out, _ = consoles()
        if bn == (errors or cam):
            raise UserError(Problem("say what to inspect: --bn, or --errors and/or --cam"))
        if bn:
            return _bn(run_dir, opts, out)
        from cnnrun.app.inspect import LookRequest, look

        if cam_method not in ("elementwise", "gradcam"):
            raise UserError(Problem(f"expected elementwise or gradcam, got {cam_method!r}",
                                    file="--cam-method"))  # fmt: skip
        drawn = look(LookRequest(run_dir, errors, cam, list(inputs or []), layer, output,
                                 opts.debug, cam_method))  # fmt: skip
        if opts.json:
            emit_json(drawn)
        else:
            if "wrong" in drawn:
                share = drawn["wrong"] / max(1, drawn["total"])
                out.print(f"{drawn['set']}: {drawn['wrong']} of {drawn['total']} wrong "
                          f"({share:.1%})", markup=False)  # fmt: skip
            if drawn.get("layer"):
                out.print(f"Grad-CAM at layer {drawn['layer']}", markup=False)
            out.print(f"figure: {drawn['figure']}", markup=False)
        return EXIT_OK

    guard(opts.debug, body)


def _bn(run_dir: Path, opts: Output, out: object) -> int:
    from cnnrun.cli.render import render_batchnorm
    from cnnrun.runs.folder import BEST

    if not (run_dir / BEST).is_file():
        raise UserError(Problem(f"is not a run folder with {BEST}", file=str(run_dir)))
    from cnnrun import engine

    engine.load(opts.debug)
    from cnnrun.engine.inspect_bn import inspect_run

    rows, images = inspect_run(run_dir)
    if opts.json:
        emit_json({"run": str(run_dir), "validation_images": images, "batchnorm": rows})
    else:
        render_batchnorm(rows, images, out)
    return EXIT_OK
