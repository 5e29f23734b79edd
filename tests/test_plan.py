"""`cnnrun.plan`, a config checked against its data: a network too large to build (a layer's
output per image, or the parameter count over `model.max_params`) is refused by `validate`."""

from __future__ import annotations

import pytest

from tests.support import DIGITS, refused


@pytest.mark.parametrize(
    "override, words",
    [
        ("model.layers[0].conv2d.filters=1000000000000", ["outputs", "values per image"]),
        ("model.layers[6].dense.units=100000000", []),  # wrong units and far too large
        ("model.layers[2].conv2d.filters=10000000", ["parameters", "model.max_params"]),
    ],
)
def test_networks_too_large_to_build_are_refused_by_validate(override, words, cli):
    refused(cli("validate", DIGITS, "--set", override), *words)
