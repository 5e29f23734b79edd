"""What a trained network answered on its test split (or validation split, without one):
per-class scores, calibration and the most confidently wrong images, kept in the run folder.

`summary.json` gets the numbers (`test_scores` with per-class precision, recall and F1 and
their means; `calibration` with the expected calibration error and its 10 bins; `errors`,
the worst errors' classes and probabilities). `errors.npz` keeps those errors' images as the
network saw them, so `cnnrun report` and `cnnrun inspect --errors` draw the gallery without
TensorFlow.

Example:
    ```python
    table = record(run_dir, summary, x_test, y_test, probabilities, names, "test set")
    summary.calibration["ece"], table["averages"]["macro"]["f1"]
    ```
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun import atomic
from cnnrun.analysis.scores import calibration, classification_scores, worst_errors
from cnnrun.data.lazy import take
from cnnrun.runs.summary import RunSummary

ERRORS_FILE = "errors.npz"
LIMIT = 25


@dataclass
class Errors:
    """The worst errors of a set: what was said about them (`index`: their place in the set),
    their images in the same order, how many of the set are wrong, and its size."""

    images: np.ndarray
    errors: list[dict]
    wrong: int
    total: int
    where: str


def record(
    run_dir: Path,
    summary: RunSummary,
    x: Any,
    y: np.ndarray,
    probabilities: np.ndarray,
    class_names: list[str],
    where: str,
) -> dict:
    """Score the answers into `summary` and keep the worst errors' images; the scores."""
    predicted = probabilities.argmax(axis=1)
    table = classification_scores(y, predicted, class_names)
    worst = worst_errors(y, probabilities, LIMIT)
    wrong = int((predicted != y).sum())
    summary.calibration = {"set": where, **calibration(y, probabilities)}
    summary.errors = {"set": where, "wrong": wrong, "total": int(len(y)), "worst": worst}
    rows = np.array([e["index"] for e in worst], dtype=np.int64)
    images = take(x, rows)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images)
    atomic.write_bytes(run_dir / ERRORS_FILE, buf.getvalue())
    return table


def read_errors(run_dir: Path, summary: RunSummary) -> Errors | None:
    """The worst errors a run kept, or None for a run from before they were kept."""
    if summary.errors is None or not (run_dir / ERRORS_FILE).is_file():
        return None
    with np.load(run_dir / ERRORS_FILE, allow_pickle=False) as f:
        images = f["images"]
    e = summary.errors
    return Errors(images, list(e["worst"]), int(e["wrong"]), int(e["total"]), str(e["set"]))
