"""Locks on run, sweep and search folders: the operating system's (`flock`), so a process that
dies, even by SIGKILL, releases its locks.

Example:
    ```python
    with run_lock(run_dir):      # refused at once (exit 2) while another process trains it
        train_into(run_dir)
    ```
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cnnrun.errors import Problem, UserError
from cnnrun.runs.names import LOCK


@contextmanager
def claim(lock: Path) -> Iterator[bool]:
    """Hold the lock file `lock` while the block runs; yields False at once if another
    process holds it.

    The lock is the operating system's (`flock`): a process that dies, even by SIGKILL,
    releases it, which is how a run or trial left `running` by a dead worker is told from one
    still training (on another machine too, over NFS v4). Without flock, every claim holds.
    """
    try:
        import fcntl
    except ImportError:  # no flock on this platform: no lock
        yield True
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for this process while it trains into it.

    A second `train --resume` of the same run (or a sweep worker) is refused at once with a
    plain error (exit 2) instead of both writing the same files.
    """
    with claim(run_dir / LOCK) as mine:
        if not mine:
            try:
                holder = (run_dir / LOCK).read_text(errors="replace").strip()
            except OSError:
                holder = ""
            raise UserError(
                Problem(
                    f"is being trained by {holder or 'another process'}; one process at a "
                    "time trains a run",
                    file=str(run_dir),
                    hint="wait for it to finish, or stop it (Ctrl-C) and resume again",
                )
            )
        yield


@contextmanager
def folder_lock(lock: Path) -> Iterator[None]:
    """Hold `lock` exclusively, waiting for it: one worker at a time reads and takes work."""
    import fcntl

    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
