"""What `predict` returns: one row per input with the class names and probabilities, the scores
of labelled inputs, and the same as CSV or JSON text.

Example:
    >>> import numpy as np
    >>> p = Predictions(inputs=["a.png", "b.png"], class_names=["cat", "dog"],
    ...                 probabilities=np.array([[0.9, 0.1], [0.3, 0.7]]))
    >>> p.predicted
    ['cat', 'dog']
    >>> print(p.text("csv"), end="")
    input,predicted,probability
    a.png,cat,0.9
    b.png,dog,0.7
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun import atomic
from cnnrun.analysis.curves import draw_confusion
from cnnrun.analysis.gallery import ERRORS, RELIABILITY, draw_errors, draw_reliability
from cnnrun.analysis.scores import worst_errors
from cnnrun.data.lazy import take


@dataclass(kw_only=True)
class Predictions:
    """Class predictions for a batch of inputs.

    Args:
        inputs: one name per row (a file's path, `digits:test[3]`, or an array's index).
        class_names: the network's classes, in output order.
        probabilities: (N, K) class probabilities, float32.
        labels: for labelled inputs, each row's true class as an index into `class_names`.
        scores: for labelled inputs, accuracy, per-class precision/recall/F1 with their
            means, the confusion matrix and `calibration` (see `cnnrun.analysis.scores`).
        skipped: `(file, reason)` for each input left out (`skip_bad`).
        assumed: what was assumed about a Keras model file (class names, pixel scaling).
        notes: what else was left out, one line each.
        weights: the weights or model file that predicted.
    """

    inputs: list[str]
    class_names: list[str]
    probabilities: np.ndarray
    labels: np.ndarray | None = None
    scores: dict | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    assumed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    weights: Path | None = None

    @property
    def predicted(self) -> list[str]:
        """Each row's most probable class."""
        return [self.class_names[i] for i in self.probabilities.argmax(axis=1)]

    def rows(self, top_k: int = 1, probs: bool = False) -> list[dict[str, Any]]:
        """One dict per input: its name, predicted class and probability, its label when
        known, the next `top_k - 1` classes, and with `probs` every class's probability."""
        p, classes = self.probabilities, self.class_names
        order = np.argsort(-p, axis=1, kind="stable")[:, : max(1, top_k)]
        out = []
        for i, name in enumerate(self.inputs):
            best = order[i]
            row: dict[str, Any] = {
                "input": name,
                "predicted": classes[best[0]],
                "probability": round(float(p[i, best[0]]), 6),
            }
            if self.labels is not None:
                row["label"] = classes[self.labels[i]]
            for rank, c in enumerate(best[1:], start=2):
                row[f"top_{rank}"] = classes[c]
                row[f"probability_{rank}"] = round(float(p[i, c]), 6)
            if probs:
                row |= {f"p:{name}": round(float(p[i, c]), 6) for c, name in enumerate(classes)}
            out.append(row)
        return out

    def text(self, fmt: str, top_k: int = 1, probs: bool = False) -> str:
        """The rows as CSV, or as one JSON document with the scores and what was skipped."""
        rows = self.rows(top_k, probs)
        if fmt == "csv":
            buf = io.StringIO()
            names = list(rows[0]) if rows else ["input"]
            writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return buf.getvalue()
        doc = {
            "weights": str(self.weights),
            "assumed": self.assumed,
            "predictions": rows,
            "scores": self.scores,
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
        }
        return json.dumps(doc, indent=2) + "\n"

    def write(self, output: Path, fmt: str, top_k: int = 1, probs: bool = False) -> None:
        """The rows as CSV or JSON in `output`, written atomically."""
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(output, self.text(fmt, top_k, probs))

    def write_report(self, folder: Path, images: Any) -> None:
        """For labelled inputs: the confusion matrix, the metrics, the errors gallery (from
        `images`, the inputs' pixels, an array or streamed HDF5) and the reliability diagram."""
        scores, y = self.scores, self.labels
        if scores is None or y is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        title = self.weights.parent.name if self.weights else "predictions"
        draw_confusion(scores, folder / "confusion_matrix.png", title=title)
        atomic.write_text(folder / "metrics.json", json.dumps(scores, indent=2))
        worst = worst_errors(y, self.probabilities)
        rows = np.array([e["index"] for e in worst], dtype=np.int64)
        wrong = int((self.probabilities.argmax(axis=1) != y).sum())
        names, total = self.class_names, len(y)
        draw_errors(take(images, rows), worst, names, total, folder / ERRORS, "inputs", None, wrong)
        draw_reliability(scores["calibration"], folder / RELIABILITY, "inputs")
