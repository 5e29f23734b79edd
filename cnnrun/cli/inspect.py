"""`cnnrun inspect`: look inside a trained network (batchnorm variance shift)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnrun.cli import app
from cnnrun.cli.common import Output, RunDirArg, consoles, emit_json, guard, output_options
from cnnrun.errors import EXIT_OK, Problem, UserError


@app.command()
@output_options("json", "debug")
def inspect(
    opts: Output,
    run_dir: RunDirArg,
    bn: Annotated[
        bool, typer.Option("--bn", help="Batchnorm moving variance against the real one.")
    ] = False,
) -> None:
    """Look inside a trained network.

    --bn measures batchnorm's variance shift: each batchnorm's moving variance against the
    variance its input really has at test time.
    """

    def body() -> int:
        from cnnrun.cli.render import render_batchnorm
        from cnnrun.runs.folder import BEST

        out, _ = consoles()
        if not bn:
            raise UserError(Problem("say what to inspect: --bn"))
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

    guard(opts.debug, body)
