"""`cnnrun.config.checks`, the checks across fields: float16 needs loss scaling, which
multi_worker training has not."""

from __future__ import annotations


def test_float16_under_multi_worker_is_refused(cli, tiny_config):
    r = cli(
        "validate",
        tiny_config(1),
        "--set",
        "train.precision=mixed_float16",
        "--set",
        "distribute=multi_worker",
    )
    assert r.code == 2 and "train.precision: multi_worker training has no loss scaling" in r.stderr
