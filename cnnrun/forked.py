"""Functions run in forked child processes, to use a second core where the CLI would wait.

`cnnrun plot` and `compare` spend most of their time importing matplotlib and drawing, on one
core. A child forked at launch imports matplotlib while the parent imports the CLI and reads
the runs; the child then draws the job the parent sends it, and forks again to draw a second
figure beside the first. Where there is no `os.fork` (Windows) everything runs in-process,
and so does anything whose child dies: the result is the same, only slower.

Example:

    child = forked.start(warm=curves.import_matplotlib)  # right at launch
    ...  # the parent's own work
    job = forked.submit(child, curves.draw_run, run_dir)
    paths = forked.wait(job)  # the result, or the child's exception raised here
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys

# This module is imported before the fork, where every millisecond is on the critical path:
# typing, dataclasses (with inspect), pickle and traceback came to 30 ms of it, so they are
# imported where used or only for type checkers (which read TYPE_CHECKING as typing's).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Child:
    """A forked process waiting for one job: its pid and the parent's ends of two pipes."""

    __slots__ = ("pid", "jobs", "results")

    def __init__(self, pid: int, jobs: int, results: int) -> None:
        self.pid = pid
        self.jobs = jobs  # -1 once closed: the job is sent
        self.results = results  # -1 once closed: the result is read


class Job:
    """A call running in `child`, or, with no child, to be run in-process by `wait`."""

    __slots__ = ("child", "call")

    def __init__(self, child: Child | None, call: Callable[[], Any]) -> None:
        self.child = child
        self.call = call


def start(warm: Callable[[], object] | None = None) -> Child | None:
    """Fork a child that runs `warm()` at once, then waits for the one job `submit` sends.

    Args:
        warm: work to start before the job is known, typically imports; its errors are
            ignored (the job then meets them again and reports them).

    Returns:
        The child, or None where this platform cannot fork.
    """
    return _fork(warm, None)


def fork_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
    """Start `fn(*args, **kwargs)` in a child forked now; `wait` for its result.

    The child has the parent's memory, so nothing is pickled on the way in. Where this
    platform cannot fork, `wait` runs the call in-process.
    """
    call = functools.partial(fn, *args, **kwargs)
    child = _fork(None, call)
    if child is not None:
        os.close(child.jobs)
        child.jobs = -1
    return Job(child, call)


def _fork(warm: Callable[[], object] | None, call: Callable[[], Any] | None) -> Child | None:
    if not hasattr(os, "fork"):
        return None
    job_r, job_w = os.pipe()
    res_r, res_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    # Ctrl-C ignored across the fork, so the child is born ignoring it (see `_serve`): no
    # moment in which it could run the parent's KeyboardInterrupt handling as its own.
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not this thread's to change
        previous = None
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory: everything runs in-process instead
        pid = -1
    if pid != 0 and previous is not None:
        signal.signal(signal.SIGINT, previous)
    if pid < 0:
        for fd in (job_r, job_w, res_r, res_w):
            os.close(fd)
        return None
    if pid == 0:  # pragma: no cover - runs in the child; tests see its effects
        os.close(job_w)
        os.close(res_r)
        _serve(warm, call, job_r, res_w)
    os.close(job_r)
    os.close(res_w)
    return Child(pid, job_w, res_r)


def _serve(
    warm: Callable[[], object] | None, call: Callable[[], Any] | None, job_r: int, res_w: int
) -> None:
    """The child's whole life: warm up, run the job if one comes, send back what it gave."""
    code = 0
    # Ctrl-C reaches the whole process group; only the parent acts on it, and stops its
    # children with SIGTERM (`close`), which raises here so a half-written file is removed on
    # the way out. One path out, in order, and every child reaped by its own parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # already so when forked from the main thread
    signal.signal(signal.SIGTERM, _terminated)
    try:
        if warm is not None:
            # Its errors are the job's to meet again and report.
            with contextlib.suppress(Exception):
                warm()
        if call is None:
            with os.fdopen(job_r, "rb") as f:
                data = f.read()
            if data:  # none: the parent finished without a job (an error, or --help)
                import pickle

                fn, args, kwargs = pickle.loads(data)
                call = functools.partial(fn, *args, **kwargs)
        if call is not None:
            try:
                reply = ("ok", call())
            except Exception as e:  # noqa: BLE001 - goes back to the parent, raised there
                import traceback

                reply = ("error", e, traceback.format_exc())
            with os.fdopen(res_w, "wb") as f:
                f.write(_dumps(reply))
    except BaseException:  # noqa: BLE001 - Ctrl-C or a closed pipe: the parent handles it
        code = 1
    finally:
        # No atexit handlers, no flushing of buffers copied from the parent.
        os._exit(code)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(1)


def _dumps(reply: tuple) -> bytes:
    import pickle

    try:
        return pickle.dumps(reply)
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled becomes plain text
        _, error, tb = reply
        return pickle.dumps(("error", RuntimeError(f"{type(error).__name__}: {error}"), tb))


def submit(child: Child | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
    """Send `fn(*args, **kwargs)` to `child` (a module-level function, picklable arguments).

    With no child, or one already given a job, the call is kept to run in-process by `wait`.
    """
    import pickle

    call = functools.partial(fn, *args, **kwargs)
    if child is None or child.jobs < 0:
        return Job(None, call)
    jobs, child.jobs = child.jobs, -1
    try:
        with os.fdopen(jobs, "wb") as f:
            f.write(pickle.dumps((fn, args, kwargs)))
    except OSError:  # the child is gone already: run it here
        close(child)
        return Job(None, call)
    return Job(child, call)


def wait(job: Job) -> Any:
    """The job's result; its exception is raised here, with the child's traceback as a note.

    If the child died without answering, the call runs in-process instead.
    """
    if job.child is None:
        return job.call()
    results, job.child.results = job.child.results, -1
    try:
        with os.fdopen(results, "rb") as f:
            data = f.read()
    except BaseException:  # Ctrl-C while waiting: nobody will read its answer now
        _reap(job.child)
        raise
    _reap(job.child, kill=False)
    if not data:
        return job.call()
    import pickle

    status, value, *tb = pickle.loads(data)
    if status == "ok":
        return value
    if tb:
        value.add_note("in a forked cnnrun process:\n" + tb[0].rstrip())
    raise value


def close(child: Child | None) -> None:
    """Stop a child whose result nobody will read (the command failed, or printed help)."""
    if child is None or child.results < 0:
        return
    for fd in (child.jobs, child.results):
        if fd >= 0:
            os.close(fd)
    child.jobs = child.results = -1
    _reap(child)


def _reap(child: Child, kill: bool = True) -> None:
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGTERM)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(child.pid, 0)
