"""What every command shares: options, consoles, the exit-code guard, JSON output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.errors import Problem, UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set train.epochs=5 (repeatable).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]
StrictOpt = Annotated[bool, typer.Option(help="Treat placement warnings as errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")]


def consoles() -> tuple[Any, Any]:
    from rich.console import Console

    # Off a terminal (CI logs, pipes) lines are not wrapped at 80 columns.
    def width(stream: Any) -> int | None:
        return None if stream.isatty() else 200

    return (
        Console(highlight=False, width=width(sys.stdout)),
        Console(stderr=True, highlight=False, width=width(sys.stderr)),
    )


def print_problems(problems: list[Problem], err: Any) -> None:
    for p in problems:
        label = "[yellow]warning[/]" if p.warning else "[red]error[/]"
        err.print(f"{label}: {p.format()}", markup=True, soft_wrap=True)


def guard(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body and turn every outcome into the documented exit code."""
    _, err = consoles()
    try:
        code = body()
    except UserError as e:
        print_problems(e.problems, err)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        code = EXIT_INTERRUPTED
    except Exception as e:  # the work failed: one line, the traceback only on request
        if debug or os.environ.get("CNNRUN_DEBUG"):
            raise
        err.print(f"[red]error[/]: {type(e).__name__}: {e}", markup=True, soft_wrap=True)
        err.print("(run again with --debug for the traceback)")
        code = EXIT_FAILED
    raise typer.Exit(code)


def import_training(debug: bool) -> Any:
    """Import the engine's training module, keeping TensorFlow's start-up chatter off stderr.

    TensorFlow's C++ side writes "Could not find cuda drivers" and similar lines straight to
    file descriptor 2 before its own log level applies, so stderr is pointed at /dev/null for
    the import only. `--debug` keeps everything.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if debug:
        from cnnrun.engine import training

        return training
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, once
        from cnnrun.engine import training
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return training


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def parse_gates(items: list[str]) -> dict[str, float]:
    """`--fail-under val_accuracy=0.9` -> `{"val_accuracy": 0.9}`; losses are refused."""
    gates = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            gates[key.strip()] = float(value)
        except ValueError:
            raise UserError(
                Problem("expected METRIC=VALUE, e.g. val_accuracy=0.9", file=f"--fail-under {item}")
            ) from None
        if "loss" in key:
            raise UserError(
                Problem(
                    "a loss is better when lower; gate on an accuracy", file=f"--fail-under {item}"
                )
            )
    return gates


def check_gates(gates: dict[str, float], scores: dict[str, float], err: Any) -> bool:
    """True when every gate is met; prints each missed one."""
    ok = True
    for key, bar in gates.items():
        value = scores.get(key)
        if value is None or value < bar:
            ok = False
            shown = "missing" if value is None else f"{value:.4f}"
            err.print(f"gate failed: {key} {shown} < {bar}", markup=False)
    return ok


def existing_run(path: Path) -> Path:
    from cnnrun.runs.folder import HISTORY

    if not path.is_dir():
        raise UserError(Problem("no such run folder", file=str(path)))
    if not (path / HISTORY).is_file():
        raise UserError(Problem(f"is not a run folder (it has no {HISTORY})", file=str(path)))
    return path
