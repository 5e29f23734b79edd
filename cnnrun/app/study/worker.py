"""One worker of a sweep or a search: take a trial from the study, train it here as an ordinary
run folder, keep its results on the trial, tell the study how it ended; until nothing is left.

A trial comes from the study's queue (a sweep's runs, enqueued in order; a trial queued again
after its worker died) or, for a search, from the sampler while the trial count allows. Optuna
pops a queued trial atomically on every storage, and `ask()` on an empty queue makes a sampled
trial: a worker that loses the race for the last queued one, or samples past the count, fails
that trial as `surplus` (never counted, never shown) and looks again. On a database, a worker
with nothing to take waits while other trials run, to take any whose worker dies (its
heartbeat goes stale), and stops when none does.

Example:
    ```python
    job = Job(folder, request=lambda trial: TrainRequest(...), sampled=0, line=str)
    work(study, store, job, NullReporter(), print)  # True: not interrupted
    ```
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnnrun.app import workers
from cnnrun.app.study import records
from cnnrun.app.study.liveness import alive, ask, requeue_dead, retried, retry, trial_id
from cnnrun.app.study.storage import STUDY_LOCK, heartbeats
from cnnrun.app.train import TrainRequest
from cnnrun.app.workers import TrialOutcome
from cnnrun.errors import EXIT_INTERRUPTED, EXIT_OK
from cnnrun.runs.events import Reporter
from cnnrun.runs.locks import folder_lock
from cnnrun.runs.summary import RunSummary

SURPLUS = "surplus"
WAIT_S = 3.0


@dataclass(frozen=True)
class Job:
    """What a worker does with its study's trials.

    Attributes:
        folder: where run folders go on this machine (and, on the journal, its lock files).
        request: how to train a trial (a new run, or its own run folder resumed).
        sampled: how many trials the sampler may start in all: a search's trial count; 0
            for a sweep, whose runs are all queued.
        line: the progress line of a finished trial, by its number.
    """

    folder: Path
    request: Callable[[Any], TrainRequest]
    sampled: int
    line: Callable[[Any, int], str]


@dataclass
class RunDir:
    """An engine observer that notes the trial's run folder as soon as it exists, so that a
    trial queued again resumes in it."""

    trial: Any

    def begin(self, summary: RunSummary) -> None:
        self.trial.set_user_attr("run_dir", str(summary.run_dir))

    def epoch(self, row: dict[str, float]) -> bool:
        return False


def counted(trials: list[Any]) -> int:
    """Trials that count towards a search's total: finished, pruned, failed by their own
    doing, and running. Retried ones (a copy stands for them) and surplus ones do not."""
    from optuna.trial import TrialState

    gone = retried(trials)
    return sum(
        1
        for t in trials
        if t.number not in gone
        and not t.user_attrs.get(SURPLUS)
        and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.FAIL)
    )


def _queued(frozen: Any) -> bool:
    return "fixed_params" in frozen.system_attrs or "failed_trial" in frozen.system_attrs


def _keep_or_drop(study: Any, trial: Any, sampled: int) -> bool:
    """Whether a trial just asked for is this worker's to train: a queued one always; a sampled
    one while fewer than `sampled` trials before it count."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if _queued(trials[trial.number]):
        return True
    if counted([t for t in trials if t.number < trial.number]) < sampled:
        return True
    trial.set_user_attr(SURPLUS, True)
    study.tell(trial, state=TrialState.FAIL)
    return False


def _settle(study: Any, store: Any) -> None:
    """Finish each queued trial whose run folder says it ended: its worker died after the
    run's last epoch and before telling the study. Claimed as `ask` claims a queued trial,
    so two workers never both finish it."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        summary = records.in_folder(t)  # the folder, not what the trial kept before
        if summary is None or summary.status not in ("completed", "pruned"):
            continue
        if summary.status == "completed" and summary.best_value is None:
            continue
        tid = trial_id(store, study, t.number)
        if not store.set_trial_state_values(tid, state=TrialState.RUNNING):
            continue
        for key, value in records.attrs_of(Path(t.user_attrs["run_dir"])).items():
            store.set_trial_user_attr(tid, key, value)
        if summary.status == "pruned":
            store.set_trial_state_values(tid, state=TrialState.PRUNED)
        else:
            store.set_trial_state_values(
                tid, state=TrialState.COMPLETE, values=[float(summary.best_value)]
            )


def _shared(store: Any, job: Job) -> contextlib.AbstractContextManager:
    """On the journal, one worker at a time looks and takes (the folder is shared); a
    database pops queued trials atomically itself."""
    if heartbeats(store):
        return contextlib.nullcontext()
    return folder_lock(job.folder / STUDY_LOCK)


def reconcile(study: Any, store: Any, job: Job) -> None:
    """Queue again the trials whose worker died, and finish the queued ones whose run
    folder says they ended: before counting what is left."""
    with _shared(store, job):
        requeue_dead(study, store, job.folder)
        _settle(study, store)


def _take(study: Any, store: Any, job: Job, stack: contextlib.ExitStack) -> Any:
    """The next trial for this worker, kept alive by `stack`; None when nothing is left;
    False when nothing is left to take but other trials still run."""
    from optuna.trial import TrialState

    with _shared(store, job):
        requeue_dead(study, store, job.folder)
        _settle(study, store)
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting and counted(trials) >= job.sampled:
            # on a database, a running trial whose worker dies is queued again once its
            # heartbeat is stale: wait to take it. On the journal a dead worker's lock is
            # free at once, so what runs is alive; `--resume` takes any that dies later.
            running = any(t.state == TrialState.RUNNING for t in trials)
            return False if running and heartbeats(store) else None
        trial = ask(study)
        stack.enter_context(alive(study, store, job.folder, trial.number))
        if not _keep_or_drop(study, trial, job.sampled):
            return False
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        return trial


def _tell(study: Any, trial: Any, outcome: TrialOutcome) -> None:
    from optuna.trial import TrialState

    summary = outcome.summary
    run_dir = summary.run_dir if summary is not None else trial.user_attrs.get("run_dir")
    if run_dir:
        records.keep(trial, Path(run_dir))
    if outcome.code == EXIT_OK and summary is not None and summary.status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif outcome.code == EXIT_OK and summary is not None and summary.best_value is not None:
        study.tell(trial, float(summary.best_value))
    else:
        trial.set_user_attr("reason", (outcome.message or "failed")[:500])
        study.tell(trial, state=TrialState.FAIL)


def work(study: Any, store: Any, job: Job, reporter: Reporter, say: Callable[[str], None]) -> bool:
    """Be one worker of a study: take trials and train them here until none is left.

    Returns False if interrupted (Ctrl-C or SIGTERM: the trial is queued again, to resume).
    """
    with workers.sigterm_interrupts():
        while True:
            with contextlib.ExitStack() as stack:
                try:
                    trial = _take(study, store, job, stack)
                    if trial is False:
                        stack.close()
                        time.sleep(WAIT_S)
                        continue
                except KeyboardInterrupt:
                    return False
                if trial is None:
                    return True
                try:
                    req = job.request(trial)
                    req = replace(req, observers=(RunDir(trial), *req.observers))
                    outcome = workers.run_trial(req, reporter)
                except KeyboardInterrupt:
                    outcome = None
                if outcome is None or outcome.code == EXIT_INTERRUPTED:
                    with _deferred_signals():  # failed and its copy queued, or neither
                        retry(study, store, trial.number)
                    return False
                with _deferred_signals():  # the run has ended: the study must hear of it
                    _tell(study, trial, outcome)
            say(job.line(study, trial.number))


@contextlib.contextmanager
def _deferred_signals() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while the block runs; they land after it."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def watch(study: Any, line: Callable[[Any, int], str], say: Callable[[str], None]) -> Callable:
    """A poll that says the line of each trial that finished since the last poll (for the
    process that waits on workers it started)."""
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}

    def poll() -> None:
        trials = study.get_trials(deepcopy=False)
        gone = retried(trials)
        for t in trials:
            if t.state.is_finished() and t.number not in seen:
                seen.add(t.number)
                if t.number not in gone and not t.user_attrs.get(SURPLUS):
                    say(line(study, t.number))

    return poll
