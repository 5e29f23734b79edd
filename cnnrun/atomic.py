"""Atomic file writes: every file cnnrun writes goes through here.

A file is written to a temporary name in its own folder, flushed and fsynced, moved onto its
final name with `os.replace`, and the folder is fsynced, so a crash or kill at any moment
leaves the old file or the new one, never a torn one. Temporary names keep the final name's
suffixes (Keras insists a weights file ends in `.weights.h5`) and all match `TEMP_GLOB`, which
is how a resumed run clears what a killed process left.

Example:
    ```python
    write_text(run_dir / "summary.json", "{}")
    with atomic_path(run_dir / "best.weights.h5") as tmp:
        model.save_weights(tmp)
    ```
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_GLOB = ".*.tmp-cnnrun-*"


def temp_name(path: Path) -> Path:
    """The temporary name beside `path`, keeping its suffixes.

    Example:
        >>> temp_name(Path("run/best.weights.h5")).name.replace(str(os.getpid()), "PID")
        '.best.tmp-cnnrun-PID.weights.h5'
    """
    suffixes = "".join(path.suffixes)
    stem = path.name.removesuffix(suffixes) if suffixes else path.name
    return path.with_name(f".{stem}.tmp-cnnrun-{os.getpid()}{suffixes}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write `path` through; moved into place only if the block succeeds.

    Args:
        path: the final file; its folder must exist.
    """
    tmp = temp_name(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, as UTF-8."""
    write_bytes(path, text.encode("utf-8"))
