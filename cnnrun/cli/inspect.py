"""`cnnrun inspect`: look inside a trained network (batchnorm variance shift)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnrun.cli import app
from cnnrun.cli.common import (
    EXIT_OK,
    DebugOpt,
    JsonOpt,
    consoles,
    emit_json,
    guard,
    import_training,
)
from cnnrun.errors import Problem, UserError


@app.command()
def inspect(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="The run folder.")],
    bn: Annotated[
        bool, typer.Option("--bn", help="Batchnorm moving variance against the real one.")
    ] = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Look inside a trained network: --bn measures batchnorm's variance shift."""

    def body() -> int:
        from rich import box
        from rich.table import Table

        from cnnrun.runs.folder import BEST

        out, _ = consoles()
        if not bn:
            raise UserError(Problem("say what to inspect: --bn"))
        if not (run_dir / BEST).is_file():
            raise UserError(Problem(f"is not a run folder with {BEST}", file=str(run_dir)))
        import_training(debug)
        from cnnrun.engine.inspect_bn import variance_shift
        from cnnrun.engine.pipeline import load_splits, pipeline
        from cnnrun.engine.predict import load_predictor

        pred = load_predictor(run_dir / BEST)
        splits = load_splits(pred.config, run_dir)
        batches = pipeline(
            splits.x_val,
            splits.y_val,
            splits.scale,
            256,
            loss=pred.config.train.loss,
            num_classes=len(pred.class_names),
        ).map(lambda xb, _: xb)
        rows = variance_shift(pred.model, batches)
        if json_:
            emit_json(
                {"run": str(run_dir), "validation_images": len(splits.y_val), "batchnorm": rows}
            )
            return EXIT_OK
        if not rows:
            out.print("the network has no batchnorm layer", markup=False)
            return EXIT_OK
        out.print(
            f"batchnorm moving variance / variance of its input on {len(splits.y_val)} "
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
