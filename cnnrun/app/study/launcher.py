"""Starting a study's workers: this process alone, J child processes here, or J Slurm jobs;
or the `sbatch` script that starts them elsewhere.

Child processes and Slurm jobs run `cnnrun sweep|search --join ...`: the folder, where the
study is the folder's journal file (all of them see one filesystem), else the storage's URL
and the study's name, so a job needs no folder but the one it writes its runs into.

Example:
    ```python
    run("search", study, store, job, None, jobs=2, launch="local", slurm=None,
        reporter=NullReporter(), say=print, mlflow=None)
    ```
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.app import workers
from cnnrun.app.study import slurm as slurms
from cnnrun.app.study.storage import STORAGE_PASSWORD
from cnnrun.app.study.worker import Job, watch, work
from cnnrun.errors import Problem, UserError
from cnnrun.runs.events import Reporter
from cnnrun.tracking.store import mlflow_secrets

LAUNCHERS = ("local", "slurm")


def check(launch: str) -> None:
    """Refuse an unknown launcher, or Slurm without submitit, before anything is made."""
    if launch not in LAUNCHERS:
        raise UserError(
            Problem(f"--launcher {launch!r} is not one cnnrun knows", hint="local or slurm")
        )
    if launch == "slurm":
        slurms.require_submitit()


def join_args(kind: str, folder: Path, storage: str | None, study: str) -> list[str]:
    """`KIND --join ...`: by folder on the journal file, by URL (no password) on a database."""
    if storage is None:
        return [kind, "--join", str(folder.resolve())]
    return [
        kind,
        "--join",
        urls.without_password(storage),
        "--study",
        study,
        "--runs-dir",
        str(folder.resolve().parent),
    ]


def secrets(storage: str | None, mlflow: dict | None) -> dict[str, str]:
    """The passwords given in this process's URLs, for its workers' environment only."""
    out = mlflow_secrets((mlflow or {}).get("tracking_uri"))
    secret = urls.password(storage or "")
    if secret is not None:
        out[STORAGE_PASSWORD] = secret
    return out


def run(
    kind: str,
    study: Any,
    store: Any,
    job: Job,
    storage: str | None,
    jobs: int,
    launch: str,
    slurm: slurms.Slurm | None,
    reporter: Reporter,
    say: Callable[[str], None],
    mlflow: dict | None,
) -> bool:
    """Run `jobs` workers of the study to its end; False if interrupted."""
    check(launch)
    if launch == "local" and jobs == 1:
        return work(study, store, job, reporter, say)
    poll = watch(study, job.line, say)
    hidden = secrets(storage, mlflow)
    if launch == "local":
        return workers.spawn_workers(kind, job.folder, jobs, poll, say, hidden)
    argv = [sys.executable, "-m", "cnnrun", *join_args(kind, job.folder, storage, study.study_name)]
    return slurms.run_workers(
        [*argv, "--quiet"], jobs, slurm or slurms.Slurm(), job.folder, poll, say, hidden
    )


def sbatch(
    kind: str, folder: Path, storage: str | None, study: str, jobs: int, slurm: slurms.Slurm | None
) -> str:
    """The `sbatch` script of `jobs` workers joining the study."""
    argv = ["cnnrun", *join_args(kind, folder, storage, study), "--quiet"]
    logs = ""  # the folder sbatch runs in: on a database, the jobs may not see this one
    if storage is None:
        (folder / "logs").mkdir(exist_ok=True)  # Slurm makes no folder for its logs
        logs = f"{folder.resolve() / 'logs'}/"
    return slurms.sbatch_script(argv, jobs, slurm or slurms.Slurm(), f"cnnrun-{study}", logs)
