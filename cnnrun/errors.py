"""Errors a user can act on: which file, which field, which line, what was expected.

Every error that is the user's to fix (bad config, bad data, bad file) is a `UserError`; the
CLI prints it in a few plain lines and exits 2. Work that ran and failed is a `WorkFailed`
(a diverged run, a missed `--fail-under` gate): exit 1, its message and no traceback. A run
stopped by Ctrl-C or SIGTERM is `Interrupted`: exit 130. Anything else is a bug, exits 1 and
shows a traceback only with `--debug`. The Python API raises the same exceptions, so a
notebook gets the same messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or, with `warning=True`, suspicious) in a config or an input.

    Args:
        message: what was received and what was expected.
        loc: where in the config, e.g. `("model", "layers", 3, "conv2d", "kernel_size")`.
        file: the file the problem is in.
        line: 1-based line in `file`, when known.
        hint: a suggestion, e.g. the nearest valid name.
        warning: a known-bad practice rather than an error.
    """

    message: str
    loc: tuple[str | int, ...] = ()
    file: str = ""
    line: int | None = None
    hint: str = ""
    warning: bool = False

    @property
    def path(self) -> str:
        """The field path, e.g. `model.layers[3].conv2d.kernel_size`."""
        return format_path(self.loc)

    def format(self) -> str:
        """The problem as `file:line: path: message (hint)`, like a compiler's diagnostics."""
        where = self.file
        if where and self.line is not None:
            where += f":{self.line}"
        head = ": ".join(p for p in (where, self.path) if p)
        text = f"{head}: {self.message}" if head else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": "warning" if self.warning else "error",
        }


class UserError(Exception):
    """Something the user must fix before any work starts; exit code 2.

    Args:
        problems: one or more problems, all reported together.
    """

    def __init__(self, problems: Problem | Sequence[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))


class WorkFailed(Exception):
    """The work ran and failed; exit code 1, the message without a traceback."""


class Diverged(WorkFailed):
    """The loss became NaN or infinite; the run is marked failed, its best weights kept.

    Args:
        message: when and where, and where the best weights so far are.
        run_dir: the run folder.
    """

    def __init__(self, message: str, run_dir: Path) -> None:
        super().__init__(message)
        self.run_dir = run_dir


class DataChanged(WorkFailed):
    """Files that passed the checks before training went bad during it (changed on disk).

    Args:
        bad: `(file, reason)` for each file that no longer reads.
        run_dir: the run folder, marked failed; it can be resumed once the files are back.
    """

    def __init__(self, bad: Sequence[tuple[str, str]], run_dir: Path) -> None:
        shown = "; ".join(f"{f}: {r}" for f, r in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        super().__init__(
            f"{len(bad)} image file(s) changed on disk after the check before training: "
            f"{shown}{more}; restore them, then continue with: cnnrun train --resume {run_dir}"
        )
        self.bad, self.run_dir = list(bad), run_dir


class GateFailed(WorkFailed):
    """The work finished, and missed a `--fail-under` bar.

    Args:
        missed: one line per bar missed, e.g. `val_accuracy 0.8500 < 0.9`.
        result: what the work produced (a run's summary, a prediction's scores).
    """

    def __init__(self, missed: Sequence[str], result: Any) -> None:
        super().__init__("; ".join(missed))
        self.missed, self.result = list(missed), result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; it is marked interrupted and can be resumed.

    A `KeyboardInterrupt`, so that a script stops as it would without cnnrun.

    Args:
        run_dir: the run folder, whose best and last weights stay valid.
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__(
            f"interrupted: {run_dir} keeps its best and last weights; continue with: "
            f"cnnrun train --resume {run_dir}"
        )
        self.run_dir = run_dir


def suggest(received: str, valid: Iterable[str]) -> str:
    """A `did you mean 'x'?` hint for a misspelt name, or '' when nothing is close.

    Example:
        >>> suggest("conv2D", ["conv2d", "dense"])
        "did you mean 'conv2d'?"
    """
    valid = list(valid)
    lowered = {v.lower(): v for v in valid}
    if received.lower() in lowered:
        return f"did you mean '{lowered[received.lower()]}'?"
    close = difflib.get_close_matches(received, valid, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def format_path(loc: Sequence[str | int]) -> str:
    """`('model', 'layers', 3, 'conv2d')` -> `model.layers[3].conv2d`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# Exit codes, the same for every command (docs/errors.md).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
