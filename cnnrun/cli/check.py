"""`cnnrun validate` and `cnnrun schema`: checking configs without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli import app
from cnnrun.cli.common import (
    DebugOpt,
    JsonOpt,
    QuietOpt,
    SetOpt,
    StrictOpt,
    complete_config,
    consoles,
    emit_json,
    guard,
    print_problems,
)
from cnnrun.errors import EXIT_OK, EXIT_USAGE, UserError


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
                "macs": r.macs,
            }
            for r in t.rows
        ],
        "total_params": t.total_params,
        "trainable_params": t.trainable_params,
        "macs_per_sample": t.total_macs,
        "flops_per_sample": 2 * t.total_macs,
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
        ("MACs", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in t.rows:
        shape_text = "(None, " + ", ".join(map(str, r.output_shape)) + ")"
        macs = f"{r.macs:,}" if r.macs else ""
        table.add_row(str(r.index), r.kind, r.args, shape_text, f"{r.params:,}", macs)
    out.print(table)
    non = t.total_params - t.trainable_params
    out.print(
        f"total params: {t.total_params:,} (trainable {t.trainable_params:,}, "
        f"non-trainable {non:,})"
    )
    out.print(
        f"forward cost per sample: {t.total_macs:,} multiply-adds ({2 * t.total_macs / 1e6:.2f} "
        "MFLOP); a training step is about 3x that"
    )


@app.command()
def validate(
    configs: Annotated[
        list[Path],
        typer.Argument(
            metavar="CONFIG...", help="Config files to check.", autocompletion=complete_config
        ),
    ],
    set_: SetOpt = None,
    strict: StrictOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check configs and print their layer tables.

    Each layer's output shape, parameters and multiply-adds, and the placement warnings,
    without importing TensorFlow.
    """

    def body() -> int:
        from cnnrun.config.load import load_config
        from cnnrun.config.plan import make_plan

        out, err = consoles()
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
                    print_problems(e.problems, err)
                continue
            docs.append(_plan_doc(plan))
            if not json_:
                print_problems(plan.warnings, err)
                if not quiet:
                    out.print(f"{path}: valid")
                    render_layer_table(plan, out)
        if json_:
            emit_json({"valid": not failed, "results": docs})
        return EXIT_USAGE if failed else EXIT_OK

    guard(debug, body)


@app.command()
def schema(debug: DebugOpt = False) -> None:
    """Print the JSON Schema of the config file.

    For editors' YAML plugins and for CI linting with any JSON Schema validator.
    """

    def body() -> int:
        from cnnrun.config.schema import json_schema

        emit_json(json_schema())
        return EXIT_OK

    guard(debug, body)
