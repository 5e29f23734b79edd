"""`cnnrun inspect`: look inside a trained network: batchnorm's variance shift, the most
confidently wrong images, and where it looks (Grad-CAM)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnrun.cli.common import Output, RunDirArg, consoles, emit_json, output_options
from cnnrun.errors import EXIT_OK

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
        "--cam-method",
        metavar="M",
        help="elementwise (each position's gradient) or gradcam (averaged, as in the paper).",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", metavar="FILE", help="The figure (.png, .svg or .pdf)."),
]


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
) -> int:
    """Look inside a trained network.

    --bn measures batchnorm's variance shift; --errors draws the most confidently wrong test
    images (validation images without a test split); --cam draws Grad-CAM heatmaps over the
    INPUTs (the run's first test images by default), or over the errors with --errors.
    """
    from cnnrun.app.inspect import inspect as inspect_run
    from cnnrun.cli.render import render_batchnorm

    out, _ = consoles()
    drawn = inspect_run(**opts.args, debug=opts.debug)
    if opts.json:
        emit_json(drawn)
    elif bn:
        render_batchnorm(drawn["batchnorm"], drawn["validation_images"], out)
        for b in drawn.get("backbones", []):
            frozen = "trains" if b["trainable"] else "frozen"
            out.print(
                f"{b['where']} ({b['backbone']}, {frozen}): {b['batchnorms']} batchnorms of its "
                f"own, in {b['mode']} mode; not measured here, never recomputed",
                markup=False,
            )
    else:
        if "wrong" in drawn:
            share = drawn["wrong"] / max(1, drawn["total"])
            out.print(
                f"{drawn['set']}: {drawn['wrong']} of {drawn['total']} wrong ({share:.1%})",
                markup=False,
            )
        if drawn.get("layer"):
            out.print(f"Grad-CAM at layer {drawn['layer']}", markup=False)
        out.print(f"figure: {drawn['figure']}", markup=False)
    return EXIT_OK
