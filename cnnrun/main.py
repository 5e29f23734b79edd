"""The `cnnrun` console script: the Typer app, started as fast as each command allows.

`plot` and `compare` spend most of their time importing matplotlib and drawing. For them, a
child process is forked before anything else is imported: it imports matplotlib on the
second core while this process imports the CLI and reads the runs, then draws what the
command sends it (`cnnrun.forked`). Commands that last a second or two run without the
garbage collector, whose passes over what the imports build cost them up to a fifth of
their time (`cnnrun.gcpause`).
"""

from __future__ import annotations

import gc
import sys

DRAWING_COMMANDS = ("plot", "compare")
# Commands that end in a second or two and are mostly imports: the garbage collector stays
# off in them (cnnrun.gcpause says why); train, sweep and predict run it as usual.
SHORT_COMMANDS = ("validate", "schema", "runs", "plot", "compare", "report")


def main() -> None:
    """Console-script entry point."""
    argv = sys.argv[1:]
    if argv and argv[0] in SHORT_COMMANDS:
        gc.disable()
    from cnnrun import forked

    draws = bool(argv) and argv[0] in DRAWING_COMMANDS and "--help" not in argv
    child = None
    try:
        if draws:
            child = forked.start(warm=_import_matplotlib)
        from cnnrun.cli import app

        app(obj=child)
    except KeyboardInterrupt:  # during start-up, before a command's own handling began
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    finally:
        forked.close(child)


def _import_matplotlib() -> None:
    from cnnrun.curves import import_matplotlib

    import_matplotlib()
