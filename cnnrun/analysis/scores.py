"""Classification scores from labels and predictions, in NumPy: accuracy, per-class precision,
recall and F1 with their macro and weighted means, the confusion matrix, calibration, and the
most confidently wrong predictions.

Example:
    >>> s = classification_scores(np.array([0, 1, 1]), np.array([0, 1, 0]), ["a", "b"])
    >>> s["accuracy"], s["confusion_matrix"]
    (0.6666666666666666, [[1, 0], [1, 1]])
"""

from __future__ import annotations

import numpy as np


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 2 * p * r / (p + r) if p + r else 0.0


def _means(per_class: dict[str, dict]) -> dict[str, dict]:
    """Macro (each class alike) and weighted (by support) means of precision, recall, F1;
    a class the network never predicted has no precision and counts as 0, as scikit-learn's
    default does."""
    support = [c["support"] for c in per_class.values()]
    total = sum(support) or 1
    out = {}
    for key in ("precision", "recall", "f1"):
        values = [c[key] or 0.0 for c in per_class.values()]
        out.setdefault("macro", {})[key] = float(sum(values) / max(1, len(values)))
        out.setdefault("weighted", {})[key] = float(
            sum(v * n for v, n in zip(values, support, strict=True)) / total
        )
    return {name: {**m, "support": int(sum(support))} for name, m in out.items()}


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, their macro and weighted means, and
    the confusion matrix (rows: truth)."""
    k = len(class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    per_class = {}
    for i, name in enumerate(class_names):
        p = float(tp[i] / predicted[i]) if predicted[i] else None
        r = float(tp[i] / actual[i]) if actual[i] else None
        per_class[name] = {"precision": p, "recall": r, "f1": _f1(p, r), "support": int(actual[i])}
    return {
        "accuracy": float(tp.sum() / max(1, cm.sum())),
        "samples": int(cm.sum()),
        "per_class": per_class,
        "averages": _means(per_class),
        "class_names": list(class_names),
        "confusion_matrix": cm.tolist(),
    }


BINS = 10


def calibration(y_true: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> dict:
    """Accuracy against confidence in `bins` equal bins, and the expected calibration error
    (Guo et al., 2017: the count-weighted mean gap between a bin's accuracy and confidence).

    Example:
        >>> calibration(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))["ece"]
        0.45
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    # confidence 1.0 falls in the last bin; (lo, hi] otherwise, as Guo et al. bin
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        acc = float(correct[inside].mean()) if n else None
        conf = float(confidence[inside].mean()) if n else None
        if n:
            ece += n / len(y_true) * abs(acc - conf)  # type: ignore[operator]
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": n,
                "accuracy": acc,
                "confidence": conf,
            }
        )
    return {
        "ece": round(float(ece), 6),
        "bins": rows,
        "mean_confidence": float(confidence.mean()) if len(confidence) else None,
        "accuracy": float(correct.mean()) if len(correct) else None,
        "samples": int(len(y_true)),
    }


def worst_errors(y_true: np.ndarray, probabilities: np.ndarray, limit: int = 25) -> list[dict]:
    """The most confidently wrong predictions, by the probability given to the wrong class.

    Example:
        >>> worst_errors(np.array([0, 1]), np.array([[0.2, 0.8], [0.4, 0.6]]))
        [{'index': 0, 'true': 0, 'predicted': 1, 'probability': 0.8, 'true_probability': 0.2}]
    """
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:limit]
    return [
        {
            "index": int(i),
            "true": int(y_true[i]),
            "predicted": int(predicted[i]),
            "probability": round(float(probabilities[i, predicted[i]]), 6),
            "true_probability": round(float(probabilities[i, y_true[i]]), 6),
        }
        for i in order
    ]
