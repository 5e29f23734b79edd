"""shapes.py must give exactly Keras's output shapes and parameter counts, layer by layer."""

from __future__ import annotations

import random

import pytest

from cnnrun.config import Config
from cnnrun.shapes import infer_shapes

keras = pytest.importorskip("keras")

N_CONFIGS = 200


def random_stack(rng: random.Random) -> tuple[list[dict], tuple[int, int, int]]:
    """A random but mostly plausible layer stack for a random input size."""
    shape = (rng.choice([8, 12, 16, 28, 32]), rng.choice([8, 10, 16, 28]), rng.choice([1, 3]))
    layers: list[dict] = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(
            [
                "conv2d",
                "conv2d",
                "maxpool2d",
                "avgpool2d",
                "batchnorm",
                "dropout",
                "spatialdropout2d",
                "activation",
                "randomflip",
                "randomrotation",
                "randomzoom",
                "randomtranslation",
            ]
        )
        k = rng.choice([1, 2, 3, 5, [3, 1], [2, 3]])
        if kind == "conv2d":
            strides = rng.choice([1, 1, 2, [2, 1]])
            dil = 1 if strides != 1 else rng.choice([1, 1, 2])
            layers.append(
                {
                    "conv2d": {
                        "filters": rng.randint(1, 12),
                        "kernel_size": k,
                        "strides": strides,
                        "dilation_rate": dil,
                        "padding": rng.choice(["valid", "same"]),
                        "use_bias": rng.random() < 0.7,
                        "l2": rng.choice([None, 1e-4]),
                    }
                }
            )
        elif kind in ("maxpool2d", "avgpool2d"):
            layers.append(
                {
                    kind: {
                        "pool_size": rng.choice([2, 3, [2, 1]]),
                        "strides": rng.choice([None, 1, 2]),
                        "padding": rng.choice(["valid", "same"]),
                    }
                }
            )
        elif kind == "batchnorm":
            layers.append(
                {"batchnorm": {"center": rng.random() < 0.8, "scale": rng.random() < 0.8}}
            )
        elif kind in ("dropout", "spatialdropout2d"):
            layers.append({kind: rng.choice([0.0, 0.25, 0.5])})
        elif kind == "activation":
            layers.append({"activation": rng.choice(["relu", "tanh", "gelu"])})
        elif kind == "randomflip":
            layers.append({"randomflip": {}})
        elif kind == "randomrotation":
            layers.append({"randomrotation": 0.1})
        elif kind == "randomzoom":
            layers.append({"randomzoom": {"height_factor": 0.1}})
        else:
            layers.append({"randomtranslation": {"height_factor": 0.1, "width_factor": 0.1}})
    layers.append(rng.choice([{"flatten": {}}, {"globalavgpool2d": {}}, {"globalmaxpool2d": {}}]))
    for _ in range(rng.randint(0, 2)):
        layers.append({"dense": {"units": rng.randint(1, 40), "use_bias": rng.random() < 0.8}})
        if rng.random() < 0.4:
            layers.append({"dropout": 0.3} if rng.random() < 0.5 else {"batchnorm": {}})
    layers.append({"dense": {"units": 10, "activation": "softmax"}})
    return layers, shape


def generated_configs() -> list[tuple[Config, tuple[int, int, int]]]:
    rng = random.Random(20261127)
    out = []
    while len(out) < N_CONFIGS:
        layers, shape = random_stack(rng)
        cfg = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
        if not infer_shapes(cfg.model.layers, shape, 10).problems:
            out.append((cfg, shape))
    return out


def test_generator_covers_every_layer_kind():
    from cnnrun.config import LAYER_KINDS

    seen = {e.kind for cfg, _ in generated_configs() for e in cfg.model.layers}
    assert seen == set(LAYER_KINDS)


def test_shapes_and_params_match_keras_for_200_configs():
    from cnnrun.model import build_model

    for cfg, shape in generated_configs():
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"input_shape": shape})})
        table = infer_shapes(cfg.model.layers, shape, 10)
        model = build_model(cfg, compile=False)
        assert len(model.layers) == len(table.rows)
        for row, layer in zip(table.rows, model.layers, strict=True):
            where = f"{row.kind} #{row.index} of {[e.kind for e in cfg.model.layers]} on {shape}"
            assert (None, *row.output_shape) == tuple(layer.output.shape), where
            assert row.params == layer.count_params(), where
            trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
            assert row.trainable == trainable, where
        assert table.total_params == model.count_params()


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
