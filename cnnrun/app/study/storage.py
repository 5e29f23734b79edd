"""Where a sweep's or search's study lives: Optuna's journal file in the folder, or a database
named by `--storage URL` (SQLite, PostgreSQL, MySQL), opened with heartbeats.

A journal file needs every worker to see one filesystem, and has no heartbeat: a worker holds
a lock file per trial it trains (`cnnrun.app.study.liveness`). A database needs no shared
folder: each worker records a heartbeat for its trial, and a trial whose heartbeat stops is
failed and queued again by Optuna (`RetryHeartbeatStaleTrialCallback`).

Example:
    ```python
    store = open_storage(search_dir, "postgresql+psycopg://optuna@db/studies", heartbeat_s=30)
    ```
"""

from __future__ import annotations

import os
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.app.study import journal
from cnnrun.errors import Problem, UserError
from cnnrun.runs import names
from cnnrun.runs.locks import claim, folder_lock

JOURNAL = "study.journal"
STUDY_LOCK = "study.lock"
# the storage's password for a resumed search or a worker: no file keeps it
STORAGE_PASSWORD = "CNNRUN_STORAGE_PASSWORD"
HEARTBEAT_S = 30  # a worker's heartbeat; its trial is taken as dead after GRACE beats missed
GRACE = 4
CONNECT_TIMEOUT_S = 10  # a database that does not answer is an error, not a hang


def require_optuna(command: str = "search") -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError(
            Problem(
                f"cnnrun {command} needs the search extra (Optuna), which is not installed",
                hint="pip install 'cnnrun[search]'",
            )
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # cnnrun reports trials itself
    return optuna


def is_url(target: str | Path) -> bool:
    """A storage URL (`postgresql+psycopg://...`, `sqlite:///...`) rather than a folder."""
    return "://" in str(target)


def driver_url(url: str) -> str:
    """A plain `postgresql://` URL means psycopg2 to SQLAlchemy; the search extra brings
    psycopg 3, so the URL is read as `postgresql+psycopg://` when psycopg2 is absent."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None:
            return "postgresql+psycopg://" + url.partition("://")[2]
    return url


def _mend_journal(folder: Path) -> None:
    """Check the journal before this process writes to it; repair a torn last line only
    while no worker is alive: under the study lock (held by a worker taking a trial) and
    with no trial's lock held (held by a worker training one)."""
    path = folder / JOURNAL
    if journal.check(path) is None:
        return
    with folder_lock(folder / STUDY_LOCK), ExitStack() as stack:
        locks = sorted((folder / names.LOCKS).glob("trial-*.lock"))
        if all(stack.enter_context(claim(lock)) for lock in locks):
            journal.repair(path)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith(("postgresql", "mysql", "mariadb")):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": CONNECT_TIMEOUT_S}}
    return {}


def open_storage(folder: Path, url: str | None, heartbeat_s: int = HEARTBEAT_S) -> Any:
    """The study's Optuna storage: the journal file in `folder` when `url` is None, else the
    database at `url` (its password from the URL or `CNNRUN_STORAGE_PASSWORD`), with a
    heartbeat every `heartbeat_s` seconds and Optuna's retry of stale trials.

    Raises:
        UserError: the URL is not one Optuna opens, or the database does not answer.
    """
    optuna = require_optuna()
    if url is None:
        from optuna.storages.journal import JournalFileBackend

        _mend_journal(folder)
        return optuna.storages.JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    secret = os.environ.get(STORAGE_PASSWORD)
    url = driver_url(urls.with_password(url, secret) if secret else url)
    try:
        from optuna.exceptions import ExperimentalWarning
        from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

        with warnings.catch_warnings():  # heartbeats are Optuna's experimental feature
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=heartbeat_s,
                grace_period=heartbeat_s * GRACE,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(),
            )
    except Exception as e:  # a bad URL, a missing driver, a database that does not answer
        raise UserError(_refusal(e, url)) from None


def _refusal(e: Exception, url: str) -> Problem:
    reason = urls.hide(f"{type(e).__name__}: {str(e).strip().splitlines()[0]}", url)
    hint = None
    if isinstance(e, ModuleNotFoundError | ImportError):
        hint = "pip install 'cnnrun[search]' brings psycopg for postgresql+psycopg:// URLs"
    elif urls.password(url) is None and urls.username(url) is not None:
        hint = (
            f"cnnrun keeps no password: give it in {STORAGE_PASSWORD}, or where the "
            "driver looks (PGPASSWORD or ~/.pgpass for PostgreSQL)"
        )
    return Problem(f"Optuna cannot open this storage: {reason}", file=urls.masked(url), hint=hint)


def heartbeats(store: Any) -> bool:
    """Whether the storage keeps heartbeats (a database does; the journal file does not)."""
    from optuna.storages import RDBStorage

    return isinstance(store, RDBStorage) and store.get_heartbeat_interval() is not None


def trials_so_far(store: Any, name: str, url: str | None, kind: str, resuming: bool) -> int:
    """How many trials the study `name` holds (0 when it is new). A sweep or search resumed
    or joined from a database that does not hold its study is refused: a new, empty one would
    train every run again (a journal in the folder is always its own)."""
    try:
        return len(store.get_all_trials(store.get_study_id_from_name(name)))
    except KeyError:
        if resuming and url is not None:
            raise UserError(
                Problem(
                    f"this storage holds no study named {name!r}, the {kind}'s own",
                    file=urls.masked(url),
                    hint=f"resume with the storage the {kind} was started with ({kind}.json)",
                )
            ) from None
        return 0
