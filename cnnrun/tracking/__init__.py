"""MLflow tracking: the tracker, parent runs of sweeps and searches, store URIs (mlflow is
imported lazily)."""
