"""Hashes that identify what an experiment ran: a config file's bytes, a resolved config.

Example:
    >>> json_hash({"seed": 42, "train": {"epochs": 3}})
    '9ae59b7b2ac5219d'
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cnnrun.errors import Problem, UserError


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def json_hash(value: Any) -> str:
    """A short hash of plain data, independent of its keys' order (a resolved config's)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def require_unchanged(config: Path, sha256: str, folder: Path, what: str) -> None:
    """Refuse (exit 2) to go on with a sweep or search whose config file is missing or has
    changed since it started: its runs would not be one experiment."""
    if not config.is_file() or file_sha256(config) != sha256:
        raise UserError(
            Problem(
                f"the {what}'s config {config} is missing or changed since the {what} "
                f"started; its {'runs' if what == 'sweep' else 'trials'} would not be one "
                "experiment",
                file=str(folder),
                hint=f"restore the config, or start a new {what}",
            )
        )
