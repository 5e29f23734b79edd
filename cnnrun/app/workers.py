"""Workers: processes that train run after run in one process, for sweeps and searches.

A fresh process per run pays TensorFlow's import and start-up each time, which is more than
a short run trains. A worker pays it once: it trains each run exactly as `cnnrun train`
would (`cnnrun.app.train.train_request`: the same checks, run folder, lock and files), clears
Keras's state between runs, and marks a run that crashes failed without going down itself.
`--jobs J` starts J workers as child processes (`cnnrun.app.launch`), each with its share
of the cores; which worker takes which run is decided by the study they share
(`cnnrun.app.study.worker`), so workers on other machines (`--join`) take part too.

Example:
    ```python
    outcome = run_trial(TrainRequest(config=Path("configs/digits.yaml")), NullReporter())
    outcome.code, outcome.summary.run_dir
    ```
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun.app import launch
from cnnrun.app.train import TrainRequest, train_request
from cnnrun.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Interrupted, UserError
from cnnrun.runs.events import Reporter
from cnnrun.runs.summary import RunSummary

POLL_S = 2.0


@dataclass(frozen=True)
class TrialOutcome:
    """How one run of a worker ended: its exit code, its summary, and why, when it failed."""

    code: int
    summary: RunSummary | None = None
    message: str = ""


def run_trial(req: TrainRequest, reporter: Reporter) -> TrialOutcome:
    """Train one run in this process, as `cnnrun train` would, then free Keras for the next.

    A bad config or input is exit 2 and a crash exit 1, with the reason in `message`;
    Ctrl-C and SIGTERM end the run `interrupted` (exit 130), as in `cnnrun train`.
    """
    try:
        return TrialOutcome(EXIT_OK, train_request(req, reporter))
    except UserError as e:
        return TrialOutcome(EXIT_USAGE, None, "; ".join(p.format() for p in e.problems))
    except Interrupted as e:
        return TrialOutcome(EXIT_INTERRUPTED, None, str(e))
    except Exception as e:  # the run folder is marked failed; the worker goes on
        return TrialOutcome(EXIT_FAILED, None, f"{type(e).__name__}: {e}")
    finally:
        if "cnnrun.engine.api" in sys.modules:  # else no run got as far as TensorFlow
            from cnnrun.engine import api

            api.release()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a worker as Ctrl-C does, between runs (during one, the run handles it)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # Python allows no handler
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def spawn_workers(
    command: str,
    folder: Path,
    jobs: int,
    poll: Callable[[], None],
    say: Callable[[str], None],
    secrets: dict[str, str] | None = None,
) -> bool:
    """Run `jobs` workers, `cnnrun COMMAND --join FOLDER`, as child processes, to the end.

    `secrets` go to the workers' environment only: passwords the folder's files do not keep.

    Each writes its log to `FOLDER/logs/worker-K.log`; `poll` is called every few seconds
    (to report runs as they end). Returns False if interrupted (Ctrl-C or SIGTERM: each
    worker leaves its run `interrupted`, to be resumed).
    """
    argv = [sys.executable, "-m", "cnnrun", command, "--join", str(folder), "--quiet"]
    workers = [
        launch.Job(f"worker-{k}", argv, folder / "logs" / f"worker-{k}.log", dict(secrets or {}))
        for k in range(1, jobs + 1)
    ]
    last = {"t": time.monotonic()}

    def tick() -> None:
        if time.monotonic() - last["t"] >= POLL_S:
            last["t"] = time.monotonic()
            poll()

    def done(job: launch.Job, code: int, seconds: float) -> None:
        poll()
        if code not in (0, 1, 130):
            say(f"{job.name} ended with exit {code}; its log: {job.log}")

    return launch.run_jobs(workers, jobs, lambda job: None, done, tick)
