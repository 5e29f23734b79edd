"""`cnnrun validate` and `cnnrun schema`: checking configs without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli.common import (
    Output,
    SetOpt,
    StrictOpt,
    complete_config,
    consoles,
    emit_json,
    output_options,
    print_problems,
)
from cnnrun.errors import EXIT_OK, EXIT_USAGE


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
                "path": list(r.path),
                "depth": r.depth,
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
    from rich.text import Text

    t = plan.table
    cfg = plan.config
    data = cfg.data.dataset if cfg.data.source == "keras" else (cfg.data.path or "built-in")
    data = "to fill in" if cfg.data.source == "none" else data
    shape = "x".join(map(str, t.input_shape))
    classes = len(plan.class_names)
    out.print(f"data: {cfg.data.source} ({data}), input {shape}, {classes} classes", markup=False)
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
        cells = (".".join(map(str, r.path)), "  " * r.depth + r.kind, r.args, shape_text)
        table.add_row(*map(Text, cells), f"{r.params:,}", macs)
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


ConfigsArg = Annotated[
    list[Path],
    typer.Argument(
        metavar="CONFIG...", help="Config files to check.", autocompletion=complete_config
    ),
]


def _error_doc(path: Path, problems: list) -> dict:
    errors = [p.as_dict() for p in problems]
    return {"file": str(path), "valid": False, "errors": errors, "warnings": []}


@output_options("json", "quiet", "debug")
def validate(
    opts: Output,
    configs: ConfigsArg,
    overrides: SetOpt = None,
    strict: StrictOpt = False,
) -> int:
    """Check configs and print their layer tables.

    Each layer's output shape, parameters and multiply-adds, and the placement warnings,
    without importing TensorFlow.
    """
    from cnnrun.app.validate import validate_all

    out, err = consoles()
    results = validate_all(**opts.args)
    if opts.json:
        docs = [_plan_doc(p) if p else _error_doc(c, e) for c, p, e in results]
        emit_json({"valid": all(p for _, p, _ in results), "results": docs})
    for path, plan, errors in [] if opts.json else results:
        print_problems(errors or plan.warnings, err)
        if plan is not None and not opts.quiet:
            out.print(f"{path}: valid")
            render_layer_table(plan, out)
    return EXIT_OK if all(p for _, p, _ in results) else EXIT_USAGE


@output_options("debug")
def schema(
    opts: Output,
) -> int:
    """Print the JSON Schema of the config file.

    For editors' YAML plugins and for CI linting with any JSON Schema validator.
    """
    from cnnrun.app.validate import schema as config_schema

    emit_json(config_schema())
    return EXIT_OK
