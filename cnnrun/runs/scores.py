"""Classification scores from labels and predictions, in NumPy: accuracy, per-class precision
and recall, confusion matrix.

Example:
    >>> s = classification_scores(np.array([0, 1, 1]), np.array([0, 1, 0]), ["a", "b"])
    >>> s["accuracy"], s["confusion_matrix"]
    (0.6666666666666666, [[1, 0], [1, 1]])
"""

from __future__ import annotations

import numpy as np


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, per-class precision/recall/support and the confusion matrix (rows: truth)."""
    k = len(class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    per_class = {
        name: {
            "precision": float(tp[i] / predicted[i]) if predicted[i] else None,
            "recall": float(tp[i] / actual[i]) if actual[i] else None,
            "support": int(actual[i]),
        }
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(tp.sum() / max(1, cm.sum())),
        "samples": int(cm.sum()),
        "per_class": per_class,
        "class_names": list(class_names),
        "confusion_matrix": cm.tolist(),
    }
