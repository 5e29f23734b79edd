"""Running command lines as parallel child processes: the workers of sweeps and searches.

Each child gets `cores // parallel` TensorFlow threads, so parallel workers split the machine
instead of fighting over it. A child dies with its parent (SIGTERM on Linux), and Ctrl-C or
SIGTERM to the parent stops the children gracefully: each run is left `interrupted`, ready
to resume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLL_S = 0.2


@dataclass(frozen=True)
class Job:
    """One child process: a name for messages, its command line, and its log file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # secrets kept out of every file


def thread_env(parallel: int, cores: int | None = None) -> dict[str, str]:
    """Environment that gives each of `parallel` TensorFlow processes its share of cores."""
    share = str(max(1, (cores or os.cpu_count() or 1) // parallel))
    return {
        "TF_NUM_INTRAOP_THREADS": share,
        "TF_NUM_INTEROP_THREADS": share,
        "OMP_NUM_THREADS": share,
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    }


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def run_jobs(
    jobs: list[Job],
    parallel: int,
    on_start: Callable[[Job], None],
    on_done: Callable[[Job, int, float], None],
    on_tick: Callable[[], None] = lambda: None,
) -> bool:
    """Run `jobs`, at most `parallel` at once, in order; returns False if interrupted.

    Args:
        jobs: what to run; each child's stdout and stderr go to its `log`.
        parallel: how many children at once.
        on_start, on_done: called as each child starts, and ends with (exit code, seconds).
        on_tick: called at every poll, while children run.

    On the first Ctrl-C or SIGTERM no new job starts and the running children get SIGTERM;
    the call returns once they have stopped.
    """
    env = {**os.environ, **thread_env(parallel)}
    pending = list(jobs)
    running: dict[Any, tuple[Job, float, Any]] = {}
    stop = {"requested": False}

    def handler(signum: int, frame: Any) -> None:
        if not stop["requested"]:
            stop["requested"] = True
            for proc in running:
                proc.send_signal(signal.SIGTERM)

    main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    signals = (signal.SIGINT, signal.SIGTERM) if main else ()
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        while running or (pending and not stop["requested"]):
            while pending and len(running) < parallel and not stop["requested"]:
                job = pending.pop(0)
                job.log.parent.mkdir(parents=True, exist_ok=True)
                log = open(job.log, "ab")  # noqa: SIM115 - closed when the child ends
                proc = subprocess.Popen(
                    job.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**env, **job.env},
                    start_new_session=True,  # Ctrl-C reaches the parent, which forwards it once
                    preexec_fn=_die_with_parent,
                )
                running[proc] = (job, time.perf_counter(), log)
                on_start(job)
            time.sleep(POLL_S)
            on_tick()
            for proc in [p for p in running if p.poll() is not None]:
                job, t0, log = running.pop(proc)
                log.close()
                on_done(job, proc.returncode, time.perf_counter() - t0)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return not stop["requested"]
