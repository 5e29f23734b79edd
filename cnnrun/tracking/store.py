"""MLflow stores: which one a config names, and a client connected to it before any work.

The default store is a SQLite file in the runs folder (`sqlite:///<runs-dir>/mlflow.db`) with
its artifacts beside it (`<runs-dir>/mlartifacts`), so nothing lands in the current folder. A
server that cannot be reached is refused before training (exit 2).

Example:
    >>> store_uri(MlflowConfig(tracking_uri="http://127.0.0.1:5000"), Path("runs"))
    'http://127.0.0.1:5000'
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cnnrun.config.schema import MlflowConfig
from cnnrun.errors import Problem, UserError

DB, ARTIFACTS = "mlflow.db", "mlartifacts"
PING_S = 5.0


def store_uri(cfg: MlflowConfig, runs_dir: Path) -> str:
    """The tracking URI: the config's, or a SQLite file in the runs folder."""
    return cfg.tracking_uri or f"sqlite:///{(runs_dir / DB).resolve()}"


def require_mlflow() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError(
            Problem(
                "needs the mlflow extra, which is not installed",
                ("logging", "mlflow"),
                hint="pip install 'cnnrun[mlflow]'",
            )
        ) from None
    # MLflow and alembic log every table they create at INFO; cnnrun says what matters itself
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient


def _ping(uri: str) -> None:
    """Refuse a tracking server that does not answer, before any training (exit 2)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PING_S):
            pass
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(
            Problem(
                f"the MLflow tracking server does not answer ({reason})",
                file=uri,
                hint="start it, fix logging.mlflow.tracking_uri, or leave the key out",
            )
        ) from None


def _experiment(client: Any, cfg: MlflowConfig, runs_dir: Path) -> str:
    found = client.get_experiment_by_name(cfg.experiment)
    if found is not None:
        return str(found.experiment_id)
    # Artifacts beside a SQLite store, not in ./mlruns of wherever cnnrun runs (MLflow's
    # default for a database store); a server keeps its own artifact root.
    uri = store_uri(cfg, runs_dir)
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / ARTIFACTS).resolve().as_uri()
    return str(client.create_experiment(cfg.experiment, artifact_location=location))


def connect(cfg: MlflowConfig, runs_dir: Path) -> tuple[Any, str, str]:
    """A client of the store, its URI and the experiment's id; refuses (exit 2) a server
    that does not answer or a store that cannot be opened, before any work."""
    client_cls = require_mlflow()
    uri = store_uri(cfg, runs_dir)
    _ping(uri)
    runs_dir.mkdir(parents=True, exist_ok=True)
    try:
        client = client_cls(tracking_uri=uri)
        return client, uri, _experiment(client, cfg, runs_dir)
    except Exception as e:  # the store itself refuses: a bad URI, an unwritable file
        raise UserError(
            Problem(
                f"cannot open the MLflow store: {type(e).__name__}: {str(e).splitlines()[0]}",
                file=uri,
                hint="fix logging.mlflow.tracking_uri, or leave the key out",
            )
        ) from None
