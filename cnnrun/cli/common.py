"""What every command shares: options, consoles, completion, the exit-code guard, JSON output."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    GateFailed,
    Interrupted,
    Problem,
    UserError,
    WorkFailed,
)

# ---- completion: paths of the right kind and --set keys, without TensorFlow ---------------


def _paths(incomplete: str, keep: Callable[[Path], bool]) -> Iterator[str]:
    base = (
        Path(incomplete).parent
        if incomplete and not incomplete.endswith("/")
        else Path(incomplete or ".")
    )
    try:
        for p in sorted(base.iterdir()):
            text = str(p) if str(base) != "." or incomplete.startswith("./") else p.name
            if text.startswith(incomplete) and (p.is_dir() or keep(p)):
                yield text + ("/" if p.is_dir() else "")
    except OSError:
        return


def complete_config(incomplete: str) -> list[str]:
    """YAML files and folders."""
    return list(_paths(incomplete, lambda p: p.suffix in (".yaml", ".yml")))


def complete_run_dir(incomplete: str) -> list[str]:
    """Folders (run folders among them)."""
    return list(_paths(incomplete, lambda p: False))


def complete_weights(incomplete: str) -> list[str]:
    return list(_paths(incomplete, lambda p: p.name.endswith((".h5", ".hdf5", ".keras"))))


def complete_set_key(incomplete: str) -> list[str]:
    """Dotted config keys from the schema, as `KEY=` for `--set`."""
    from cnnrun.config.keys import config_keys

    return [f"{k}=" for k in config_keys() if k.startswith(incomplete)]


# ---- options shared by several commands ---------------------------------------------------


def path_option(metavar: str, help: str, complete: Callable[[str], list[str]]) -> Any:
    """An optional path option with its metavar, help and completion."""
    return Annotated[Path | None, typer.Option(metavar=metavar, help=help, autocompletion=complete)]


ConfigArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="CONFIG",
        help="The experiment's YAML config.",
        show_default=False,
        autocompletion=complete_config,
    ),
]
RunDirArg = Annotated[
    Path, typer.Argument(metavar="RUN_DIR", help="A run folder.", autocompletion=complete_run_dir)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set train.epochs=5 (repeatable).",
        autocompletion=complete_set_key,
    ),
]
RunsDirOpt = Annotated[
    Path,
    typer.Option(
        metavar="DIR", help="Where run folders are made.", autocompletion=complete_run_dir
    ),
]
NameOpt = Annotated[str | None, typer.Option(metavar="NAME", help="Name (default: the config's).")]
GateOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="METRIC=VALUE",
        help="Exit 1 when METRIC is below VALUE, e.g. val_accuracy=0.9 (repeatable).",
    ),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write here.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]
StrictOpt = Annotated[bool, typer.Option(help="Treat placement warnings as errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")]
JobsOpt = Annotated[
    int,
    typer.Option(min=1, metavar="J", help="Worker processes here, each with cores/J threads."),
]


@dataclass(frozen=True)
class Output:
    """The output options commands share (`--json`, `--quiet`, `--debug`), and the command's
    own options as keywords (`args`), named as its use case names them."""

    json: bool = False
    quiet: bool = False
    debug: bool = False
    args: dict[str, Any] = field(default_factory=dict)


_OUTPUT_OPTIONS = {"json": JsonOpt, "quiet": QuietOpt, "debug": DebugOpt}


def output_options(*names: str) -> Callable[[Callable[..., int]], Callable[..., None]]:
    """Give a command the shared output options `names` (json, quiet, debug), and turn what
    it returns or raises into the documented exit code (`guard`).

    The command declares one `opts: Output` parameter instead of repeating the three
    options, and returns its exit code; its signature, as Typer reads it, gets `--json`,
    `--quiet` and `--debug`. Its own options come in `opts.args` too, so a command whose
    parameters are named as its use case's keywords calls it as `use_case(**opts.args)`.

    Example:
        ```python
        @output_options("json", "debug")
        def runs(opts: Output, runs_dir: RunsDirArg = Path("runs")) -> int: ...
        ```
    """

    def decorate(command: Callable[..., int]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for name, p in signature.parameters.items() if name != "opts"]
        shared = [
            inspect.Parameter(
                f"{n}_",
                inspect.Parameter.KEYWORD_ONLY,
                default=False,
                annotation=_OUTPUT_OPTIONS[n],
            )
            for n in names
        ]

        @functools.wraps(command)
        def with_options(**kwargs: Any) -> None:
            shared = {n: kwargs.pop(f"{n}_") for n in names}
            opts = Output(**shared, args=dict(kwargs))
            guard(opts.debug, lambda: command(opts, **kwargs))

        params = [*own, *shared]
        with_options.__signature__ = signature.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
        return with_options

    return decorate


# ---- output ------------------------------------------------------------------------------


def consoles() -> tuple[Any, Any]:
    """Rich consoles for stdout and stderr; off a terminal lines are not wrapped at 80."""
    from rich.console import Console

    def width(stream: Any) -> int | None:
        return None if stream.isatty() else 200

    return (
        Console(highlight=False, width=width(sys.stdout)),
        Console(stderr=True, highlight=False, width=width(sys.stderr)),
    )


def print_problems(problems: list[Problem], err: Any) -> None:
    """One line per problem; the user's own text is never read as console markup."""
    from rich.markup import escape

    for p in problems:
        label = "[yellow]warning[/]" if p.warning else "[red]error[/]"
        err.print(f"{label}: {escape(p.format())}", soft_wrap=True)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def guard(debug: bool, body: Callable[[], int]) -> None:
    """Run a command and turn every outcome into the documented exit code (docs/errors.md)."""
    _, err = consoles()
    try:
        code = body()
    except UserError as e:
        print_problems(e.problems, err)
        code = EXIT_USAGE
    except GateFailed as e:
        for line in e.missed:
            err.print(f"gate failed: {line}", markup=False)
        code = EXIT_FAILED
    except WorkFailed as e:
        err.print(f"failed: {e}", markup=False, soft_wrap=True)
        code = EXIT_FAILED
    except Interrupted as e:
        err.print(str(e), markup=False, soft_wrap=True)
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err.print("interrupted")
        code = EXIT_INTERRUPTED
    except Exception as e:  # the work failed: one line, the traceback only on request
        if debug or os.environ.get("CNNRUN_DEBUG"):
            raise
        err.print(f"error: {type(e).__name__}: {e}", markup=False, soft_wrap=True)
        err.print("(run again with --debug for the traceback)")
        code = EXIT_FAILED
    raise typer.Exit(code)
