"""The `cnnrun` console script: the Typer app, with matplotlib warming up beside it.

`plot` and `compare` spend most of their time importing matplotlib and drawing. For them, a
child process is forked before anything else is imported: it imports matplotlib on the
second core while this process imports the CLI and reads the runs, then draws what the
command sends it (`cnnrun.forked`). Every other command starts as it always did.
"""

from __future__ import annotations

import sys

DRAWING_COMMANDS = ("plot", "compare")


def main() -> None:
    """Console-script entry point."""
    from cnnrun import forked

    argv = sys.argv[1:]
    draws = bool(argv) and argv[0] in DRAWING_COMMANDS and "--help" not in argv
    child = forked.start(warm=_import_matplotlib) if draws else None
    try:
        from cnnrun.cli import app

        app(obj=child)
    finally:
        forked.close(child)


def _import_matplotlib() -> None:
    from cnnrun.curves import import_matplotlib

    import_matplotlib()
