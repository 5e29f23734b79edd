"""`cnnrun.config.shapes`, the layer table in plain Python: each layer's output shape,
parameters and multiply-adds, and a stack that cannot be built refused before Keras."""

from __future__ import annotations

import json

from cnnrun.config.schema import Config
from cnnrun.config.shapes import infer_shapes
from tests.support import CONFIGS


def test_layer_table_of_the_quick_start(cli):
    r = cli("validate", CONFIGS / "digits.yaml", "--json")
    assert r.code == 0
    doc = json.loads(r.stdout)["results"][0]
    shapes = [(row["kind"], row["output_shape"], row["params"]) for row in doc["layers"]]
    assert shapes == [
        ("conv2d", [None, 8, 8, 16], 160),  # 3*3*1*16 + 16
        ("batchnorm", [None, 8, 8, 16], 64),  # gamma, beta, moving mean, moving variance
        ("conv2d", [None, 8, 8, 32], 4640),  # 3*3*16*32 + 32
        ("maxpool2d", [None, 4, 4, 32], 0),
        ("dropout", [None, 4, 4, 32], 0),
        ("flatten", [None, 512], 0),
        ("dense", [None, 10], 5130),  # 512*10 + 10
    ]
    assert doc["total_params"] == 9994 and doc["trainable_params"] == 9962
    assert doc["classes"] == [str(i) for i in range(10)]
    macs = [row["macs"] for row in doc["layers"]]
    assert macs == [
        8 * 8 * 16 * 3 * 3 * 1,  # every output value is a 3x3x1 dot product
        8 * 8 * 16,  # batchnorm at inference: one scale-and-shift per value
        8 * 8 * 32 * 3 * 3 * 16,
        0,
        0,
        0,
        512 * 10,
    ]
    assert doc["macs_per_sample"] == sum(macs) and doc["flops_per_sample"] == 2 * sum(macs)


def test_impossible_stacks_are_rejected_before_keras():
    cfg = Config.model_validate(
        {
            "data": {"source": "digits"},
            "model": {
                "layers": [
                    {"conv2d": {"filters": 4, "kernel_size": 5}},
                    {"conv2d": {"filters": 4, "kernel_size": 5}},
                    {"flatten": {}},
                    {"dense": {"units": 10, "activation": "softmax"}},
                ]
            },
        }
    )
    problems = infer_shapes(cfg.model.layers, (8, 8, 1), 10).problems
    assert [p.path for p in problems] == ["model.layers[1].conv2d.kernel_size"]
    assert "larger than the 4x4 input" in problems[0].message


def _nested(depth: int) -> str:
    inner = "{dense: {units: 64}}"
    for _ in range(depth):
        inner = "{residual: {layers: [" + inner + "]}}"
    return (
        "data: {source: digits}\nmodel:\n  layers:\n    - flatten\n    - " + inner + "\n"
        "    - dense: {units: 10, activation: softmax}\ntrain: {epochs: 1}\n"
    )


def test_blocks_nested_past_the_limit_are_refused_by_validate_and_train_alike(cli, tmp_path):
    """100 deep passed validate, then failed in train writing its records, after making a
    run folder; now both refuse it, and the deepest allowed nesting trains."""
    from cnnrun.config.shapes import MAX_BLOCK_DEPTH

    deep = tmp_path / "deep.yaml"
    deep.write_text(_nested(100))
    for command in ("validate", "train"):
        r = cli(command, deep, *(("--runs-dir", tmp_path / "runs") if command == "train" else ()))
        assert r.code == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"blocks nest {MAX_BLOCK_DEPTH + 1} deep here; at most {MAX_BLOCK_DEPTH}" in r.stderr
    assert not (tmp_path / "runs").exists()
    ok = tmp_path / "ok.yaml"
    ok.write_text(_nested(MAX_BLOCK_DEPTH))
    r = cli("validate", ok)
    assert r.code == 0, r.stderr
