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
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun import atomic
from cnnrun.analysis.scores import calibration, classification_scores, worst_errors
from cnnrun.data.lazy import take
from cnnrun.errors import Problem, UserError
from cnnrun.runs.names import SUMMARY
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
    # Stored, not deflated: photos' pixels barely compress, so zlib's time bought little.
    np.savez(buf, images=images)
    atomic.write_bytes(run_dir / ERRORS_FILE, buf.getvalue())
    return table


def read_errors(run_dir: Path, summary: RunSummary) -> Errors | None:
    """The worst errors a run kept, or None for a run from before they were kept.

    Raises:
        UserError: `errors.npz` or the summary's `errors` cannot be read (named, with why);
            a file is never unpickled.
    """
    path = run_dir / ERRORS_FILE
    if summary.errors is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            images = f["images"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        reason = "it holds pickled (object) data, which cnnrun never loads" if _pickled(e) else e
        raise UserError(Problem(f"cannot read the kept errors: {reason}", file=str(path))) from None
    e = summary.errors
    try:
        worst = [dict(w) for w in e["worst"]]
        kept = Errors(images, worst, int(e["wrong"]), int(e["total"]), str(e["set"]))
    except (KeyError, TypeError, ValueError) as err:
        where = f"{run_dir / SUMMARY}"
        raise UserError(Problem(f"errors: missing or malformed ({err!r})", file=where)) from None
    if images.ndim != 4 or len(images) != len(worst):
        raise UserError(
            Problem(
                f"holds {len(images)} images of shape {images.shape[1:]}; the summary lists "
                f"{len(worst)} errors",
                file=str(path),
            )
        )
    return kept


def _pickled(e: Exception) -> bool:
    return "allow_pickle" in str(e) or "pickled" in str(e)


def calibration_problem(calib: Any) -> str | None:
    """Why a summary's `calibration` cannot be drawn (None when it can)."""
    if not isinstance(calib, dict):
        return "calibration: not a mapping"
    for key in ("set", "ece", "bins"):
        if key not in calib:
            return f"calibration.{key}: missing"
    bins = calib["bins"]
    fields = ("low", "high", "count", "accuracy", "confidence")
    ok = isinstance(bins, list) and bins and all(isinstance(b, dict) for b in bins)
    if not ok or any(k not in b for b in bins for k in fields):
        return f"calibration.bins: expected a list of {{{', '.join(fields)}}}"
    return None
