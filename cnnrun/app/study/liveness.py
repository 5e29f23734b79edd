"""Which trials are alive: a trial whose worker died is failed and queued again, to resume in
its own run folder where that folder can be reached, or to run again from its start.

On a database, the storage's heartbeat tells: a worker records one for its trial every few
seconds from a thread, and `optuna.storages.fail_stale_trials` fails the trials whose
heartbeat stopped, queuing each again through Optuna's `RetryHeartbeatStaleTrialCallback`.
(Optuna runs both inside `study.optimize` only; cnnrun's workers ask and tell, so they do it
themselves.) The journal file has no heartbeat: a worker holds a lock file per trial, which
the operating system releases when the worker dies, even by SIGKILL.

Example:
    ```python
    requeue_dead(study, store, folder)
    with alive(study, store, folder, trial.number):
        train(trial)
    ```
"""

from __future__ import annotations

import contextlib
import copy
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cnnrun.app.study.storage import CONNECT_TIMEOUT_S, heartbeats
from cnnrun.runs import names
from cnnrun.runs.locks import claim


def lock_of(folder: Path, number: int) -> Path:
    """The lock file a worker holds while it trains trial `number` (journal storage)."""
    return folder / names.LOCKS / f"trial-{number}.lock"


def trial_id(store: Any, study: Any, number: int) -> int:
    """The storage's id of trial `number` (what heartbeats and states are written against)."""
    study_id = store.get_study_id_from_name(study.study_name)
    return store.get_trial_id_from_study_id_trial_number(study_id, number)


def retry(study: Any, store: Any, number: int) -> None:
    """Fail trial `number`, which will not finish here (its worker died or was stopped), and
    queue a copy of it, as Optuna's heartbeat does for a stale trial: the same parameters and
    user attributes (its run folder, to resume in), `failed_trial` naming the original."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    if store.set_trial_state_values(trial_id(store, study, number), state=TrialState.FAIL):
        frozen = copy.deepcopy(study.get_trials(deepcopy=False)[number])
        with warnings.catch_warnings():  # experimental in Optuna since 2.8, and unchanged
            warnings.simplefilter("ignore", ExperimentalWarning)
            RetryHeartbeatStaleTrialCallback()(study, frozen)


def retried(trials: list[Any]) -> set[int]:
    """The numbers of the trials a later trial retries: they stand for nothing themselves.
    (`requeued` marks them in searches made before the heartbeat.)"""
    out = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    return out | {t.number for t in trials if t.user_attrs.get("requeued")}


def requeue_dead(study: Any, store: Any, folder: Path) -> None:
    """Fail and queue again every running trial whose worker is gone: by heartbeat on a
    database, by its free lock file on the journal (call this under the study lock)."""
    import optuna
    from optuna.trial import TrialState

    if heartbeats(store):
        with warnings.catch_warnings():  # experimental in Optuna since 2.9, and unchanged
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        return
    dead = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        with claim(lock_of(folder, t.number)) as free:
            if free:
                dead.append(t.number)
    for number in dead:
        retry(study, store, number)


@contextmanager
def alive(study: Any, store: Any, folder: Path, number: int) -> Iterator[None]:
    """Keep trial `number` alive while the block trains it: a heartbeat from a thread on a
    database, its lock file held on the journal."""
    if not heartbeats(store):
        with claim(lock_of(folder, number)):
            yield
        return
    tid, stop = trial_id(store, study, number), threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a database that blinks: the next beat tries
                store.record_heartbeat(tid)
            if stop.wait(store.get_heartbeat_interval()):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-trial-{number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=CONNECT_TIMEOUT_S)  # a database that hangs does not hold the worker


def ask(study: Any) -> Any:
    """`study.ask()`, whose warning that heartbeats belong to `study.optimize` does not apply:
    `alive` records them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        return study.ask()
