"""MLflow read back as a user would: a client of a store, a metric's logged history."""

from __future__ import annotations

from typing import Any


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def metric_history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of each logged value of `key`."""
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
