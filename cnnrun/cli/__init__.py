"""The face of cnnrun: a Typer app with one small module per group of commands.

A command parses its options, calls one function of a lower layer and renders what it
returns. Only the commands that train or predict import TensorFlow, and only inside their
function, so `--help`, `validate`, `schema`, `plot` and `runs` answer without paying for it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cnnrun.version import __version__

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's plain help and usage errors: the same text on a terminal and in a CI log.
    rich_markup_mode=None,
    help="Train, compare and use convolutional networks described in one YAML file.",
)


def _version(value: bool) -> None:
    if value:
        print(f"cnnrun {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Train, compare and use convolutional networks described in one YAML file."""


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="cnnrun")
    except KeyboardInterrupt:  # during start-up, before a command's own handling began
        raise SystemExit(130) from None


# The commands register themselves on `app` when imported, in the order `--help` lists them.
from cnnrun.cli import train, sweep, search, check, predict, review, inspect, keras_io  # noqa: E402, F401, I001
