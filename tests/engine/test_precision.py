"""`cnnrun.engine.precision`: the `auto` precision rule from the CPU's flags and the GPUs,
and a mixed-bfloat16 run that records, resumes and predicts with float32 weights."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.support import only_run


@pytest.mark.parametrize(
    "flags, gpus, distribute, expected",
    [
        ({"avx2", "fma"}, [], "none", "float32"),
        ({"avx512f", "avx512_bf16"}, [], "none", "float32"),
        ({"avx512_bf16", "amx_bf16", "amx_tile"}, [], "none", "mixed_bfloat16"),
        ({"amx_bf16"}, [(9, 0)], "none", "mixed_float16"),
        (set(), [(6, 1)], "mirrored", "float32"),
        (set(), [(8, 0)], "multi_worker", "float32"),
    ],
)
def test_auto_precision_rule(flags, gpus, distribute, expected):
    from cnnrun.engine.precision import choose

    policy, reason = choose("auto", flags, gpus, distribute)
    assert policy == expected and reason
    assert choose("mixed_bfloat16", flags, gpus, distribute)[0] == "mixed_bfloat16"


def test_mixed_bfloat16_trains_records_and_predicts_in_float32(cli, tiny_config, tmp_path):
    cfg = tiny_config(1)
    r = cli(
        "train", cfg, "--runs-dir", tmp_path / "runs", "--set", "train.precision=mixed_bfloat16"
    )
    assert r.code == 0, r.stderr
    assert "precision: mixed_bfloat16 (set in the config)" in r.stdout
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["precision"]["policy"] == "mixed_bfloat16"
    from cnnrun.engine.predict import load_model
    from cnnrun.runs.weights import read_metadata

    assert read_metadata(run / "best.weights.h5")["precision"] == "mixed_bfloat16"
    with h5py.File(run / "best.weights.h5") as f:  # mixed policies keep float32 weights
        dtypes = set()
        f.visititems(lambda k, v: dtypes.add(v.dtype) if isinstance(v, h5py.Dataset) else None)
    assert dtypes == {np.dtype("float32")}
    model, _ = load_model(run / "best.weights.h5")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    r = cli("train", "--resume", run, "--epochs", "2", "--quiet")
    assert r.code == 0, r.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["precision"]["policy"] == "mixed_bfloat16"
