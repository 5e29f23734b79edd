"""`cnnrun.data.splits`: the stratified split keeps class proportions and follows the seed;
class weights, balanced or by mapping, and a weight for a class the data lacks refused."""

from __future__ import annotations

import numpy as np
import pytest

from cnnrun.data.splits import class_weights, stratified_split


def test_stratified_split_keeps_class_proportions_and_follows_the_seed():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    keep, held = stratified_split(y, 0.2, seed=1)
    assert np.bincount(y[held]).tolist() == [20, 10, 6, 4]
    assert len(np.intersect1d(keep, held)) == 0 and len(keep) + len(held) == len(y)
    assert not np.array_equal(held, stratified_split(y, 0.2, seed=2)[1])
    assert np.array_equal(held, stratified_split(y, 0.2, seed=1)[1])
    # unlike Keras's validation_split, the held-out part is not simply the tail
    assert held.max() < len(y) - 1 or held.min() > 0 or len(np.unique(y[held])) == 4


def test_class_weights_balanced_by_mapping_and_refused_for_unknown_classes(cli, tiny_config):
    y = np.array([0, 0, 0, 1])
    assert class_weights("balanced", ["a", "b"], y) == pytest.approx([4 / 6, 2.0])
    assert class_weights({"b": 3.0, 0: 0.5}, ["a", "b"], y) == pytest.approx([0.5, 3.0])
    r = cli("validate", tiny_config(1), "--set", "train.class_weight={cat: 2}")
    assert r.code == 2
    assert "train.class_weight.cat: no class 'cat' in the data" in r.stderr
    r = cli(
        "train",
        tiny_config(1),
        "--quiet",
        "--set",
        "train.class_weight=balanced",
        "--runs-dir",
        tiny_config(1).parent / "runs",
    )
    assert r.code == 0, r.stderr
