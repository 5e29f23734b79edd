"""Synthetic run folders, written with the same functions and the same typed summary that
training uses, for tests and benchmarks of the TensorFlow-free commands (`runs`, `plot`,
`compare`, `report`). Benchmarks import it as `support.synthetic` (`sys.path` gets `tests/`)."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from pathlib import Path

from cnnrun.runs import folder as runs
from cnnrun.runs.summary import RunSummary, Timings, write_summary

CONFIG = {
    "name": "synthetic",
    "seed": 0,
    "data": {"source": "digits", "validation_split": 0.2},
    "model": {
        "input_shape": [8, 8, 1],
        "layers": [
            {"conv2d": {"filters": 8, "kernel_size": 3, "padding": "same"}},
            {"flatten": {}},
            {"dense": {"units": 10, "activation": "softmax"}},
        ],
    },
    "train": {"epochs": 30},
}


def make_run(runs_dir: Path, index: int, epochs: int = 30, overfit: bool = False) -> Path:
    """A completed-looking run: config, history, summary (no weights, no curves)."""
    rng = random.Random(index)
    when = datetime(2026, 11, 1) + timedelta(minutes=index)
    run = runs.create_run_dir(runs_dir, f"synthetic-{index:03d}", when)
    config = {**CONFIG, "name": f"synthetic-{index:03d}", "seed": index}
    runs.write_config(run, config)
    rows = []
    for e in range(1, epochs + 1):
        loss = 2.3 * math.exp(-e / 6) + 0.01 * rng.random()
        val = 2.3 * math.exp(-e / 7) + 0.05 + (0.02 * max(0, e - 12) if overfit else 0)
        rows.append(
            {
                "epoch": e,
                "loss": loss,
                "val_loss": val,
                "accuracy": 1 - loss / 2.5,
                "val_accuracy": 1 - val / 2.5,
                "lr": 0.001,
                "seconds": 0.5,
            }
        )
    runs.write_history(run, runs.history_columns(["accuracy"]), rows)
    best = min(rows, key=lambda r: r["val_loss"])
    summary = RunSummary(
        name=config["name"],
        run_dir=str(run),
        status="completed",
        started=when.isoformat(timespec="seconds"),
        epochs_planned=epochs,
        epochs_run=epochs,
        best_epoch=best["epoch"],
        best_value=best["val_loss"],
        best_metrics={k: v for k, v in best.items() if k != "seconds"},
        test={"test_accuracy": best["val_accuracy"] - 0.01, "test_loss": best["val_loss"]},
        num_classes=10,
        params={"total": 5290, "trainable": 5290},
        diagnosis={"verdict": "overfitting" if overfit else "converged", "reason": "synthetic"},
        timings=Timings(fit_s=epochs * 0.5),
    )
    write_summary(run, summary)
    return run
