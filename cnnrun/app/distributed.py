"""`train --workers HOST:PORT,... --worker-index I`: the TF_CONFIG of multi-worker training,
and which process is the chief that writes (and alone tracks) the run."""

from __future__ import annotations

import json
import os
import re

from cnnrun.errors import Problem, UserError


def tf_config(workers: str | None, index: int | None) -> str:
    """TF_CONFIG for `--workers HOST:PORT,... --worker-index I` (exit 2 when malformed).

    Example:
        >>> json.loads(tf_config("10.0.0.1:12345,10.0.0.2:12345", 1))["task"]
        {'type': 'worker', 'index': 1}
    """
    hosts = [w.strip() for w in (workers or "").split(",") if w.strip()]
    bad = [h for h in hosts if not re.fullmatch(r"[^\s:]+:\d{1,5}", h)]
    if not hosts or bad or index is None or index >= len(hosts):
        raise UserError(
            Problem(
                f"expected --workers HOST:PORT,HOST:PORT,... and --worker-index 0..{len(hosts) - 1}"
                + (f"; not HOST:PORT: {', '.join(bad)}" if bad else ""),
                file="--workers",
                hint="e.g. --workers 10.0.0.1:12345,10.0.0.2:12345 --worker-index 0",
            )
        )
    return json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})


def tf_config_env(workers: str | None, index: int | None) -> None:
    """Set TF_CONFIG for this process, which is how TensorFlow learns its cluster."""
    os.environ["TF_CONFIG"] = tf_config(workers, index)


def is_chief(worker_index: int | None) -> bool:
    """Whether this process writes the run (and alone tracks it): not a non-chief worker."""
    if worker_index is not None:
        return worker_index == 0
    try:
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    except ValueError:
        return True
    return int(task.get("index", 0)) == 0
