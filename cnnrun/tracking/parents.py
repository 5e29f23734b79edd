"""The MLflow run of a sweep or a search, whose runs are its children.

Example:
    ```python
    parent = tracking_parent(config, sets, runs_dir, sweep_dir.name, "sweep")
    # ... every run logs with tracking_parent=parent["run_id"] ...
    end_parent(parent["tracking_uri"], parent["run_id"], [sweep_dir / "sweep.json"], warn)
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from cnnrun import urls
from cnnrun.config.load import load_config
from cnnrun.config.schema import MlflowConfig
from cnnrun.tracking.courier import STALL_S, Courier
from cnnrun.tracking.store import connect, mlflow_version, require_mlflow
from cnnrun.version import __version__


def check_tracking(config: Path, sets: Sequence[str], runs_dir: Path) -> bool:
    """Whether the config tracks its runs in MLflow; a store that cannot be reached is
    refused here (exit 2), before a sweep or search folder is made."""
    cfg = load_config(config, list(sets)).config.logging.mlflow_config
    if cfg is None:
        return False
    connect(cfg, runs_dir)
    return True


def tracking_parent(
    config: Path, sets: Sequence[str], runs_dir: Path, name: str, kind: str
) -> dict | None:
    """The sweep's or search's own MLflow run when its config tracks runs, as
    `{tracking_uri, run_id, experiment}`; its runs become the children."""
    cfg = load_config(config, list(sets)).config.logging.mlflow_config
    if cfg is None:
        return None
    uri, run_id = parent_run(cfg, runs_dir, name, kind)
    return {"tracking_uri": uri, "run_id": run_id, "experiment": cfg.experiment}


def parent_run(cfg: MlflowConfig, runs_dir: Path, name: str, kind: str) -> tuple[str, str]:
    """The MLflow run of a sweep or a search, parent of its trials: (tracking URI, run id)."""
    client, uri, experiment = connect(cfg, runs_dir)
    tags = {
        "cnnrun.kind": kind,
        "cnnrun.version": __version__,
        "cnnrun.mlflow_version": mlflow_version(),
    }
    run = client.create_run(experiment, run_name=name, tags=tags)
    return uri, run.info.run_id


def end_parent(uri: str, run_id: str, files: list[Path], warn: Callable[[str], None]) -> None:
    """Log a sweep's or search's own files to its MLflow run and end it, off this thread and
    within the same bound as a run's own end (`courier.STALL_S`): a server that hangs never
    holds up the command's exit."""
    client = require_mlflow()(tracking_uri=uri)
    courier = Courier(lambda _: None, lambda text: urls.hide(text, uri))
    for f in files:
        if f.is_file():
            courier.send("artifact", lambda f=f: client.log_artifact(run_id, f))
    courier.send("end", lambda: client.set_terminated(run_id, "FINISHED"), always=True)
    courier.close(STALL_S)
    if courier.error:
        warn(f"MLflow: could not finish the parent run {run_id}: {courier.error}")
