"""What a path is, checked before it is opened: a FIFO or a device never hangs a command.

Example:
    >>> require_file(Path("configs/digits.yaml"), "a YAML config")
    PosixPath('configs/digits.yaml')
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cnnrun.errors import Problem, UserError


def kind_of(path: Path) -> str:
    """'a file', 'a folder', 'a FIFO (named pipe)', ... or 'missing'."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    for test, name in (
        (stat.S_ISREG, "a file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def require_file(path: Path, expected: str, loc: tuple = (), hint: str = "") -> Path:
    """`path` if it is a regular file; else a plain error (exit 2) that says what it is."""
    kind = kind_of(path)
    if kind == "a file":
        return path
    message = "no such file" if kind == "missing" else f"is {kind}, expected {expected}"
    raise UserError(Problem(message, loc, file=str(path), hint=hint))


def require_dir(path: Path, expected: str, loc: tuple = ()) -> Path:
    """`path` if it is a folder; else a plain error (exit 2) that says what it is."""
    kind = kind_of(path)
    if kind == "a folder":
        return path
    message = "no such folder" if kind == "missing" else f"is {kind}, expected {expected}"
    raise UserError(Problem(message, loc, file=str(path)))


def require_dir_or_new(path: Path, expected: str) -> Path:
    """`path` if it is a folder or does not exist yet (it will be made); else exit 2."""
    kind = kind_of(path)
    if kind in ("a folder", "missing"):
        return path
    raise UserError(Problem(f"is {kind}, expected {expected}", file=str(path)))
