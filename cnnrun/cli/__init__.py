"""The face of cnnrun: a Typer app, its command table, and one small module per group of
commands.

A command parses its options, calls one use case (`cnnrun.app`, or a core function for the
commands that only read run folders) and renders what it returns. Only the commands that
train or predict import TensorFlow, and only through their use case, so `--help`, `validate`,
`schema`, `plot` and `runs` answer without paying for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from cnnrun.cli import check, inspect, keras_io, predict, review, search, sweep, train
from cnnrun.version import __version__

# Every command, in the order `--help` lists them: (name, function, Typer's settings).
COMMANDS: list[tuple[str, Callable[..., None], dict[str, Any]]] = [
    ("train", train.train, {}),
    ("sweep", sweep.sweep, {}),
    ("search", search.search, {}),
    ("validate", check.validate, {}),
    ("schema", check.schema, {}),
    ("predict", predict.predict, predict.SETTINGS),
    ("plot", review.plot, {}),
    ("runs", review.runs_, {}),
    ("compare", review.compare, {}),
    ("report", review.report, {}),
    ("inspect", inspect.inspect, {}),
    ("import", keras_io.import_, {}),
    ("export", keras_io.export, {}),
]

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's plain help and usage errors: the same text on a terminal and in a CI log.
    rich_markup_mode=None,
    help="Train, compare and use convolutional networks described in one YAML file.",
)
for _name, _command, _settings in COMMANDS:
    app.command(_name, **_settings)(_command)


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
