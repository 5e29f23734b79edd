"""`cnnrun inspect`: look inside a trained network (batchnorm variance shift)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnrun.cli import app
from cnnrun.cli.common import DebugOpt, JsonOpt, RunDirArg, consoles, emit_json, guard
from cnnrun.errors import EXIT_OK, Problem, UserError


@app.command()
def inspect(
    run_dir: RunDirArg,
    bn: Annotated[
        bool, typer.Option("--bn", help="Batchnorm moving variance against the real one.")
    ] = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Look inside a trained network.

    --bn measures batchnorm's variance shift: each batchnorm's moving variance against the
    variance its input really has at test time.
    """

    def body() -> int:
        from rich import box
        from rich.table import Table

        from cnnrun.runs.folder import BEST

        out, _ = consoles()
        if not bn:
            raise UserError(Problem("say what to inspect: --bn"))
        if not (run_dir / BEST).is_file():
            raise UserError(Problem(f"is not a run folder with {BEST}", file=str(run_dir)))
        from cnnrun import engine

        engine.load(debug)
        from cnnrun.engine.inspect_bn import inspect_run

        rows, images = inspect_run(run_dir)
        if json_:
            emit_json({"run": str(run_dir), "validation_images": images, "batchnorm": rows})
            return EXIT_OK
        if not rows:
            out.print("the network has no batchnorm layer", markup=False)
            return EXIT_OK
        out.print(
            f"batchnorm moving variance / variance of its input on {images} "
            "validation images (dropout off):",
            markup=False,
        )
        table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
        for col in ("layer", "after", "channels", "median ratio", "max shift"):
            table.add_column(col, justify="left" if col in ("layer", "after") else "right")
        for r in rows:
            table.add_row(
                f"model.layers[{r['index']}]",
                r["after"],
                str(r["channels"]),
                f"{r['ratio_median']:.3f}",
                f"{r['shift_max']:.3f}",
            )
        out.print(table)
        if any(r["after"] in ("dropout", "spatialdropout2d") for r in rows):
            out.print(
                "a ratio near 1 / (1 - rate) after dropout is variance shift (Li et al., "
                "2019): move the dropout after the batchnorm",
                markup=False,
            )
        return EXIT_OK

    guard(debug, body)
