"""MLflow tracking of a run: its config as parameters, every epoch's metrics, the best value,
the test scores, tags and the run folder's files, through `MlflowClient` (no fluent API, so
nothing global is switched on).

The store is connected before training (`cnnrun.tracking.store`: a server that cannot be
reached is exit 2). From then on every call goes through a `Courier`, off the training
thread: a tracker that hangs or fails in the middle of a run never holds training up, is
warned about once, and its state is kept in `summary.json`.

Example:
    ```python
    tracker = open_tracker(MlflowConfig(), Path("runs"), resolved, "digits", warn=print)
    tracker.begin(summary)  # the MLflow run, its parameters and tags
    tracker.epoch({"epoch": 1, "loss": 0.9, "val_loss": 0.8})  # False: never asks to stop
    ```
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.config.schema import MlflowConfig
from cnnrun.runs.names import BEST
from cnnrun.runs.summary import RunSummary, read_summary, write_summary
from cnnrun.tracking.courier import STALL_INTERRUPTED_S, STALL_S, Courier
from cnnrun.tracking.store import connect, mlflow_version
from cnnrun.version import __version__

BATCH = 100  # MLflow's log_batch takes at most 100 parameters (and 1000 metrics) per call
MAX_PARAM = 6000  # MLflow's limit on a parameter value's length
STATUS = {"completed": "FINISHED", "pruned": "FINISHED", "interrupted": "KILLED"}


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Dotted parameter names without brackets, as MLflow shows them.

    Example:
        >>> dict(flatten({"model": {"layers": [{"conv2d": {"filters": 8}}]}}))
        {'model.layers.0.conv2d.filters': '8'}
    """
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from flatten(v, f"{prefix}.{i}")
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        yield _name(prefix), text[:MAX_PARAM]


def _name(key: str) -> str:
    # keys inside the config (a search space's `model.layers[2].dropout.rate`) carry brackets,
    # which MLflow refuses in a name: indices become parts, other characters underscores
    dotted = re.sub(r"\[(\d+)\]", r".\1", key)
    return re.sub(r"[^\w\-. :/]", "_", dotted)


@dataclass
class Tracker:
    """One cnnrun run's MLflow run; each call warns once and goes on if MLflow fails."""

    client: Any
    uri: str
    experiment_id: str
    warn: Callable[[str], None]
    params: dict[str, str]
    run_name: str
    parent_id: str | None = None
    run_id: str | None = None
    run_dir: Path | None = None
    courier: Courier | None = None

    def __post_init__(self) -> None:
        self.courier = Courier(self.warn, lambda text: urls.hide(text, self.uri))

    @property
    def error(self) -> str | None:
        return self.courier.error if self.courier else None

    def safely(self, what: str, call: Callable[[], Any], always: bool = False) -> None:
        """Make `call` off the training thread, in order; a failure is warned about once."""
        assert self.courier is not None
        self.courier.send(what, call, always)

    def state(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "tracking_uri": urls.without_password(self.uri),
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_id,
            "state": "ok" if self.error is None else f"failed: {self.error}",
            "mlflow_version": mlflow_version(),
        }

    def begin(self, summary: RunSummary) -> None:
        """Create (or, for a resumed run, reopen) the MLflow run; note it in the summary.

        An engine observer (`cnnrun.engine.recorder.Observer`): called once the run folder
        exists, before the first epoch.
        """
        self.run_dir = Path(summary.run_dir) if summary.run_dir else None
        was = (summary.tracking or {}).get("mlflow", {})
        same = was.get("tracking_uri") == urls.without_password(self.uri)
        known = was.get("run_id") if same else None
        if known:
            self.run_id = known
            self.safely("reopen", lambda: self.client.update_run(known, status="RUNNING"))
        else:
            self.safely("create", lambda: self._create(summary))
        summary.tracking = {**(summary.tracking or {}), "mlflow": self.state()}

    def _create(self, summary: RunSummary) -> None:
        from mlflow.entities import Param

        tags = {
            "cnnrun.version": __version__,
            "cnnrun.mlflow_version": mlflow_version(),
            "cnnrun.run_dir": str(summary.run_dir),
            "cnnrun.config_hash": str(summary.config_hash),
            "cnnrun.status": "running",
        }
        if self.parent_id:
            tags["mlflow.parentRunId"] = self.parent_id
        run = self.client.create_run(self.experiment_id, run_name=self.run_name, tags=tags)
        self.run_id = run.info.run_id
        items = [Param(k, v) for k, v in self.params.items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH])

    def epoch(self, row: dict[str, float]) -> bool:
        """Log one epoch's metrics at its step; never asks to stop."""
        self._log(
            {("epoch_seconds" if k == "seconds" else k): v for k, v in row.items()},
            int(row["epoch"]),
        )
        return False

    def _log(self, values: dict[str, Any], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(k, float(v), now, step)
            for k, v in values.items()
            if k != "epoch" and isinstance(v, int | float)
        ]
        self.safely("log metrics", lambda: self.client.log_batch(self.run_id, metrics=metrics))

    def finish(self, summary: RunSummary, run_dir: Path, model_dir: Path | None) -> None:
        """The best value, test scores, final tags and the run folder's files; the run ended
        (queued: they go out in order after the epochs' metrics)."""
        if summary.best_value is not None:
            self._log({f"best_{summary.monitor}": summary.best_value}, summary.best_epoch or 0)
        self._log(summary.test, summary.best_epoch or 0)
        for key, value in (
            ("cnnrun.status", summary.status),
            ("cnnrun.best_epoch", str(summary.best_epoch)),
        ):
            self.safely("tag", lambda k=key, v=value: self.client.set_tag(self.run_id, k, v))
        for name in ("config.yaml", "summary.json", "history.csv", "best.weights.h5"):
            if (run_dir / name).is_file():
                self.safely(
                    "artifact", lambda n=name: self.client.log_artifact(self.run_id, run_dir / n)
                )
        if (run_dir / "curves").is_dir():
            curves = run_dir / "curves"
            self.safely("curves", lambda: self.client.log_artifacts(self.run_id, curves, "curves"))
        if model_dir is not None:
            self.safely("model", lambda: self.client.log_artifacts(self.run_id, model_dir, "model"))
        status = STATUS.get(summary.status, "FAILED")
        # even after an earlier failure: a run left RUNNING would mislead
        self.safely("end", lambda: self._terminate(status), always=True)

    def _terminate(self, status: str) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status)

    def end_run(self, save_model: Callable[[Path, Path], None]) -> None:
        """After training, however it ended: the run folder's files, and the best network as
        an MLflow model made by `save_model(best_weights, folder)`, to the tracker; the
        tracker's state back into `summary.json`."""
        if self.run_dir is None:
            return
        run_dir = self.run_dir
        summary = read_summary(run_dir)
        assert self.courier is not None
        with tempfile.TemporaryDirectory(prefix="cnnrun-mlflow-") as tmp:
            model_dir = Path(tmp) / "model"
            if summary.status == "completed" and (run_dir / BEST).is_file() and not self.error:
                try:  # local files, uploaded in order below
                    save_model(run_dir / BEST, model_dir)
                except Exception as e:  # a tracker never fails the run
                    self.courier.fail("model", f"{type(e).__name__}: {e}")
            self.finish(summary, run_dir, model_dir if model_dir.is_dir() else None)
            # the uploads read the folder: they go out (or are given up) before it goes
            stall = STALL_S if summary.status == "completed" else STALL_INTERRUPTED_S
            dropped = self.courier.close(stall)
        summary.tracking = {**(summary.tracking or {}), "mlflow": self.state()}
        if dropped:
            summary.tracking["mlflow"]["dropped"] = dropped
        write_summary(run_dir, summary)


def open_tracker(
    cfg: MlflowConfig,
    runs_dir: Path,
    resolved: dict,
    run_name: str,
    warn: Callable[[str], None],
    parent_id: str | None = None,
) -> Tracker:
    """Connect to the store and find (or make) the experiment; refuses a dead server (exit 2).

    Args:
        cfg: `logging.mlflow`.
        runs_dir: the folder the run folder goes in; the default store lives there.
        resolved: the run's resolved config, logged as its parameters.
        run_name: the MLflow run's name.
        warn: how to tell the user that tracking failed mid-run.
        parent_id: the sweep's or search's MLflow run, for a trial.
    """
    client, uri, experiment = connect(cfg, runs_dir)
    params = dict(flatten(resolved))
    return Tracker(client, uri, experiment, warn, params, run_name, parent_id)
