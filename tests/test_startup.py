"""What makes the CLI start fast: calls in forked children (`cnnrun.forked`): their results,
errors, and children that die or linger; and imports with the collector paused
(`cnnrun.gcpause`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnrun import forked, gcpause
from cnnrun.synthetic import make_run

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _pid_and(x: int) -> tuple[int, int]:
    return os.getpid(), x * 2


def _fail(message: str) -> None:
    raise ValueError(message)


def _die_in_a_child(parent: int) -> str:
    if os.getpid() != parent:
        os._exit(3)
    return "in-process"


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # reaped: no zombie left
    return False


@needs_fork
def test_fork_call_runs_in_a_child_and_returns_its_result():
    pid, value = forked.wait(forked.fork_call(_pid_and, 21))
    assert value == 42 and pid != os.getpid()


@needs_fork
def test_a_childs_exception_is_raised_in_the_parent_with_its_traceback():
    with pytest.raises(ValueError, match="no such metric") as info:
        forked.wait(forked.fork_call(_fail, "no such metric"))
    assert "in a forked cnnrun process" in info.value.__notes__[0]
    assert "_fail" in info.value.__notes__[0]


@needs_fork
def test_a_child_that_dies_without_answering_is_replaced_by_an_in_process_call():
    job = forked.fork_call(_pid_and, 1)
    os.kill(job.child.pid, 9)
    assert forked.wait(job) == (os.getpid(), 2)
    assert _gone(job.child.pid)


@needs_fork
def test_a_warm_child_runs_the_job_it_is_sent_once():
    child = forked.start(warm=lambda: None)
    assert forked.wait(forked.submit(child, _pid_and, 5))[0] == child.pid
    # a second job has no child left to go to: it runs here
    assert forked.wait(forked.submit(child, _pid_and, 5))[0] == os.getpid()
    assert _gone(child.pid)


@needs_fork
def test_no_child_means_in_process_and_close_stops_an_unused_child():
    assert forked.wait(forked.submit(None, _pid_and, 1)) == (os.getpid(), 2)
    child = forked.start(warm=lambda: __import__("time").sleep(30))
    forked.close(child)  # a command that failed before it drew: nothing may linger
    assert _gone(child.pid)
    forked.close(child)  # twice is harmless


@needs_fork
def test_a_fork_that_fails_runs_the_call_in_process_and_keeps_ctrl_c(monkeypatch):
    import signal

    def no_fork() -> int:
        raise BlockingIOError("Resource temporarily unavailable")

    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(os, "fork", no_fork)
    assert forked.start() is None
    assert forked.wait(forked.fork_call(_pid_and, 4)) == (os.getpid(), 8)
    assert signal.getsignal(signal.SIGINT) is handler


@needs_fork
def test_a_job_that_kills_its_child_runs_in_process_instead():
    here = os.getpid()
    assert forked.wait(forked.submit(forked.start(), _die_in_a_child, here)) == "in-process"


@needs_fork
def test_cli_draws_in_the_child_and_the_parent_never_imports_matplotlib(tmp_path: Path):
    a = make_run(tmp_path / "runs", 1, epochs=8)
    b = make_run(tmp_path / "runs", 2, epochs=5, overfit=True)
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['cnnrun', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('cnnrun', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "assert 'matplotlib' not in sys.modules, 'drawn in the parent'\n"
        "sys.exit(code)\n"
    )

    def run(*args: object) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-c", probe, *map(str, args)]
        return subprocess.run(argv, capture_output=True, text=True)

    r = run("plot", a)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (a / "curves").iterdir()) == ["accuracy.png", "loss.png"]
    r = run("compare", a, b, "-o", tmp_path / "cmp.png", "--json")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cmp.png").stat().st_size > 5000
    # a failure while drawing is reported by the parent as any other: one line, exit 1
    (tmp_path / "file").write_text("")
    r = run("plot", a, b, "-o", tmp_path / "file" / "o.png")
    assert r.returncode == 1 and "FileExistsError" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.glob("**/.*tmp*"))
    r = run("plot", tmp_path / "nowhere")
    assert r.returncode == 2 and "no such run folder" in r.stderr


def test_paused_collector_restores_its_state_and_freezes_what_was_built():
    import gc

    frozen = gc.get_freeze_count()
    try:
        with gcpause.paused():
            assert not gc.isenabled()
            built = [[i] for i in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(built)
        gc.disable()
        with gcpause.paused():
            pass
        assert not gc.isenabled()  # a collector that was off stays off
    finally:
        gc.enable()
        gc.unfreeze()


def _group(pgid: int) -> list[str]:
    """Processes (zombies included) still in process group `pgid`, from /proc."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp
            left.append(f"{stat.parent.name} {fields[0]}")
    return left


@needs_fork
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_while_drawing_stops_every_child_and_leaves_no_file(tmp_path: Path):
    import signal
    import time

    run = make_run(tmp_path / "runs", 1, epochs=30)
    for extra in (0.0, 0.05, 0.1):
        p = subprocess.Popen(
            [sys.executable, "-m", "cnnrun", "plot", str(run)],
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C sees it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Three processes: the parent waiting, its child drawing one figure and the child's
        # own child drawing the other. Ctrl-C reaches all three at once.
        deadline = time.monotonic() + 30
        while len(_group(p.pid)) < 3 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(extra)
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate()
        finished = out.count("wrote ") == 2
        # Interrupted: 130, or killed by SIGINT (-2), which a shell also reports as 130; or
        # the drawing finished first.
        assert p.returncode in (130, -2) or finished and p.returncode == 0, (p.returncode, err)
        assert "Traceback" not in err
        time.sleep(0.2)
        assert _group(p.pid) == []  # every child stopped and reaped by its parent
        assert not list(run.glob("curves/.*"))  # no half-written figure
