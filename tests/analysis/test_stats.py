"""`cnnrun.analysis.stats`: Welch's t-test against the t table, mean and spread, and Holm's
step-down correction."""

from __future__ import annotations

import math

import pytest

from cnnrun.analysis import stats


def test_welch_t_test_matches_the_t_table():
    # two-sided 5% critical values of Student's t
    for t, df in ((12.706, 1), (2.776, 4), (2.228, 10), (1.960, 1e6)):
        assert stats.t_two_sided_p(t, df) == pytest.approx(0.05, abs=2e-4)
    assert stats.t_two_sided_p(0.0, 3) == pytest.approx(1.0)
    clear = stats.welch([0.97, 0.98, 0.975], [0.95, 0.951, 0.949])
    assert clear.p < 0.05 and clear.t > 0
    noise = stats.welch([0.97, 0.95, 0.96], [0.96, 0.97, 0.95])
    assert noise.p > 0.5
    assert math.isnan(stats.welch([0.9], [0.8, 0.7]).p)  # one seed: no spread to judge by
    assert stats.mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    # Holm: the smallest p against alpha/3, the next against alpha/2, stop at the first miss
    assert stats.holm([0.01, 0.03, 0.2]) == [True, False, False]
    assert stats.holm([0.01, 0.02, 0.04]) == [True, True, True]
