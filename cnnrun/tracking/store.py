"""MLflow stores: which one a config names, and a client connected to it before any work.

The default store is a SQLite file in the runs folder (`sqlite:///<runs-dir>/mlflow.db`) with
its artifacts beside it (`<runs-dir>/mlartifacts`), so nothing lands in the current folder. A
server that cannot be reached is refused before training (exit 2).

Example:
    >>> store_uri(MlflowConfig(tracking_uri="http://127.0.0.1:5000"), Path("runs"))
    'http://127.0.0.1:5000'
"""

from __future__ import annotations

import base64
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cnnrun import urls
from cnnrun.config.schema import MlflowConfig
from cnnrun.errors import Problem, UserError

DB, ARTIFACTS = "mlflow.db", "mlartifacts"
PING_S = 5.0
API = "/api/2.0/mlflow/experiments/get-by-name"
USER_ENV, PASSWORD_ENV = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


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
    # MLflow writes "View run at: URL" to stdout when a run on a server ends: into `--json`
    # output, from the tracking thread, with any password in the URL. Its own switch (no
    # per-client option exists); a user's explicit setting is kept.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    return MlflowClient


def mlflow_version() -> str:
    """The version of the MLflow client that writes, kept in `summary.json` and a run's tags.

    A SQLite store's schema is the one of the MLflow that wrote it, and a tracking server
    older than that refuses the store (docs/tracking.md). Called once `require_mlflow` has
    imported MLflow, whose package loads its own version module: no import cost.
    """
    from mlflow.version import VERSION

    return str(VERSION)


def mlflow_secrets(uri: str | None) -> dict[str, str]:
    """MLflow's own environment variables for the credentials a URL carries: how a worker
    or a resumed run, whose files keep the URL without its password, reaches the server."""
    secret = urls.password(uri or "")
    if secret is None:
        return {}
    return {USER_ENV: urls.username(uri or "") or "", PASSWORD_ENV: secret}


def _credentials(uri: str) -> tuple[str, str] | None:
    """(user, password) as MLflow's client sends them: from the URL, else its variables."""
    secret = urls.password(uri)
    if secret is not None:
        return urls.username(uri) or "", secret
    user, secret = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    return (user, secret) if user and secret is not None else None


def _ping(uri: str, experiment: str) -> None:
    """Refuse a tracking server that does not answer its API, before any training (exit 2).

    One real API call (the experiment looked up by name), with the credentials MLflow's
    client would send and a short timeout: a server whose health check answers but whose
    API fails is refused here, not found out by MLflow's own retries, minutes later.
    """
    if not uri.startswith(("http://", "https://")):
        return
    query = urllib.parse.urlencode({"experiment_name": experiment})
    request = urllib.request.Request(f"{urls.bare(uri).rstrip('/')}{API}?{query}")
    creds = _credentials(uri)
    if creds is not None:
        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=PING_S):
            return
    except urllib.error.HTTPError as e:
        if e.code == 404 and b"RESOURCE_DOES_NOT_EXIST" in e.read():
            return  # the API answers; the experiment is made below
        reason = f"HTTP {e.code} {e.reason}"
        if e.code in (401, 403):
            reason += f"; cnnrun keeps no password: give it in the URL or {PASSWORD_ENV}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = str(getattr(e, "reason", e))
    raise UserError(
        Problem(
            f"the MLflow tracking server does not answer ({urls.hide(reason, uri)})",
            file=urls.masked(uri),
            hint="start it, fix logging.mlflow.tracking_uri, or leave the key out",
        )
    )


def _require_writable(uri: str) -> None:
    """Refuse a SQLite store cnnrun cannot write (MLflow retries such a database for minutes,
    warning at every try)."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise UserError(
            Problem(
                f"cannot write the MLflow store: {target} is not writable",
                file=str(path),
                hint="use --runs-dir on a writable folder, or another logging.mlflow.tracking_uri",
            )
        )


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
    _ping(uri, cfg.experiment)
    runs_dir.mkdir(parents=True, exist_ok=True)
    _require_writable(uri)
    try:
        client = client_cls(tracking_uri=uri)
        return client, uri, _experiment(client, cfg, runs_dir)
    except Exception as e:  # the store itself refuses: a bad URI, an unwritable file
        first = str(e).splitlines()[0] if str(e) else ""
        raise UserError(
            Problem(
                f"cannot open the MLflow store: {urls.hide(f'{type(e).__name__}: {first}', uri)}",
                file=urls.masked(uri),
                hint="fix logging.mlflow.tracking_uri, or leave the key out",
            )
        ) from None
