"""Sweep and search workers as Slurm jobs: N jobs (one array), each `cnnrun ... --join`.

Through submitit (the library Hydra's Slurm launcher uses). submitit keeps each job's pickle
in a folder the compute nodes must see (`<sweep or search folder>/slurm/`), and reads job
states through `sacct`. Where no folder is shared, `sbatch_script` writes the array for
`sbatch` instead: its jobs need only the storage's URL.

A password in the storage's URL is in no file: sbatch passes the submitting environment to
the jobs, so it travels as `CNNRUN_STORAGE_PASSWORD` there, set for the submission only.

Example:
    ```python
    print(sbatch_script(["cnnrun", "search", "--join", url], 4, Slurm(partition="gpu"), "s"))
    ```
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun.errors import Problem, UserError

POLL_S = 2.0


@dataclass(frozen=True)
class Slurm:
    """Each worker job's resources: partition, time limit, CPUs, GPUs and memory."""

    partition: str | None = None
    time_min: int = 60
    cpus: int = 2
    gpus: int = 0
    mem_gb: int | None = None


def require_submitit() -> Any:
    # On import, submitit configures logging with `logging.config.dictConfig`, which closes
    # every handler the process already has (a notebook's, absl's under TensorFlow: absl's
    # closes the stream it was made with) and prints its INFO lines on stdout, into --json's
    # output. Its own switch turns that off; its records then go to the root logger.
    switch = {} if "SUBMITIT_LOG_LEVEL" in os.environ else {"SUBMITIT_LOG_LEVEL": "NOCONFIG"}
    try:
        with _environment(switch):
            import submitit
    except ImportError:
        raise UserError(
            Problem(
                "--launcher slurm needs the slurm extra (submitit), which is not installed",
                hint="pip install 'cnnrun[slurm]', or print the job array with --print-sbatch",
            )
        ) from None
    return submitit


def sbatch_script(argv: list[str], n: int, opts: Slurm, name: str, logs: str = "") -> str:
    """An `sbatch` script: an array of `n` tasks, each running the command `argv`."""
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={name[:64]}",
        f"#SBATCH --array=0-{n - 1}",
        f"#SBATCH --time={opts.time_min}",
        f"#SBATCH --cpus-per-task={opts.cpus}",
        f"#SBATCH --output={logs}cnnrun-%A_%a.log",
    ]
    if opts.partition:
        lines.append(f"#SBATCH --partition={opts.partition}")
    if opts.gpus:
        lines.append(f"#SBATCH --gpus-per-task={opts.gpus}")
    if opts.mem_gb:
        lines.append(f"#SBATCH --mem={opts.mem_gb}G")
    lines += [
        "# a password for the storage comes from CNNRUN_STORAGE_PASSWORD in the environment",
        "# sbatch passes on (or ~/.pgpass on the nodes); this script keeps none",
        "export TF_NUM_INTRAOP_THREADS=$SLURM_CPUS_PER_TASK OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK",
        shlex.join(argv),
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def _environment(secrets: dict[str, str]) -> Iterator[None]:
    """`secrets` in this process's environment while sbatch runs, which hands it to the jobs;
    not in submitit's pickles, which stay on disk."""
    before = {k: os.environ.get(k) for k in secrets}
    os.environ.update(secrets)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_workers(
    argv: list[str],
    n: int,
    opts: Slurm,
    folder: Path,
    poll: Callable[[], None],
    say: Callable[[str], None],
    secrets: dict[str, str],
) -> bool:
    """Submit `n` worker jobs running `argv` and wait for them, calling `poll` as they run.

    Returns False if interrupted (Ctrl-C cancels the jobs; each trial is queued again by
    the study's liveness check, to resume).
    """
    submitit = require_submitit()
    from submitit.helpers import CommandFunction

    executor = submitit.AutoExecutor(folder=folder / "slurm" / "%j", cluster="slurm")
    executor.update_parameters(
        name=f"cnnrun-{folder.name}"[:64],
        timeout_min=opts.time_min,
        cpus_per_task=opts.cpus,
        gpus_per_node=opts.gpus,
        slurm_array_parallelism=n,
        **({"slurm_partition": opts.partition} if opts.partition else {}),
        **({"mem_gb": opts.mem_gb} if opts.mem_gb else {}),
    )
    env = {"TF_NUM_INTRAOP_THREADS": str(opts.cpus), "OMP_NUM_THREADS": str(opts.cpus)}
    with _environment({**secrets, **env}), executor.batch():
        jobs = [executor.submit(CommandFunction(argv, verbose=False)) for _ in range(n)]
    say(f"submitted {n} Slurm job(s): {', '.join(j.job_id for j in jobs)}")
    try:
        while not all(j.done() for j in jobs):
            time.sleep(POLL_S)
            poll()
    except KeyboardInterrupt:
        for j in jobs:
            j.cancel(check=False)
        return False
    poll()
    for j in jobs:
        if j.exception() is not None:
            say(f"Slurm job {j.job_id} failed; its log: {j.paths.stderr}")
    return True
