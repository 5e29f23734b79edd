"""`cnnrun.analysis.scores`: per-class scores and their means as defined, calibration bins
and the expected calibration error, and the worst errors sorted by the wrong class's
probability."""

from __future__ import annotations

import numpy as np
import pytest

from cnnrun.analysis.scores import calibration, classification_scores, worst_errors


def test_per_class_scores_and_their_means_match_the_definitions():
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0, 0])
    s = classification_scores(y, p, ["a", "b", "c"])
    a, b, c = (s["per_class"][k] for k in "abc")
    assert a == {"precision": 1 / 3, "recall": 0.5, "f1": pytest.approx(0.4), "support": 2}
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == pytest.approx(2 / 3)
    assert c == {"precision": None, "recall": 0.0, "f1": None, "support": 1}  # never predicted
    macro = s["averages"]["macro"]
    assert macro["f1"] == pytest.approx((0.4 + 2 / 3 + 0) / 3)
    weighted = s["averages"]["weighted"]
    assert weighted["recall"] == pytest.approx(s["accuracy"])  # weighted recall is accuracy


def test_calibration_bins_and_ece():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.35, 0.65]])
    c = calibration(y, probs)
    assert [b["count"] for b in c["bins"]] == [0, 0, 0, 0, 0, 1, 1, 0, 0, 2]
    # bin 0.5-0.6: confidence .55, wrong; 0.6-0.7: .65, right; 0.9-1: .95 twice, right
    assert c["ece"] == pytest.approx((0.55 + 0.35 + 2 * 0.05) / 4)
    assert calibration(np.array([1]), np.array([[0.0, 1.0]]))["bins"][-1]["count"] == 1


def test_worst_errors_are_sorted_by_the_wrong_class_probability():
    y = np.array([0, 1, 2, 0])
    probs = np.array([[0.1, 0.6, 0.3], [0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.2, 0.2, 0.6]])
    got = worst_errors(y, probs)
    assert [(e["index"], e["predicted"]) for e in got] == [(2, 0), (0, 1), (3, 2)]
    assert worst_errors(y, probs, limit=1)[0]["probability"] == 0.9
