"""`cnnrun.config.layers`, the layer registry: every kind validates and builds, and its
plain-Python shapes and parameter counts equal Keras's, layer by layer, for each kind's own
example and for 200 random stacks; docs/config.md's table of kinds is the declarations."""

from __future__ import annotations

import functools
import random
import re

import pytest

from cnnrun.config.layers import REGISTRY
from cnnrun.config.schema import Config
from cnnrun.config.shapes import infer_shapes
from tests.support import ROOT
from tests.support.layers import assert_matches_keras

keras = pytest.importorskip("keras")

N_CONFIGS = 200


def random_stack(rng: random.Random) -> tuple[list[dict], tuple[int, int, int]]:  # noqa: C901
    """A random but mostly plausible layer stack for a random input size."""
    shape = (rng.choice([8, 12, 16, 28, 32]), rng.choice([8, 10, 16, 28]), rng.choice([1, 3]))
    layers: list[dict] = []
    image_kinds = sorted(
        k
        for k, spec in REGISTRY.items()
        if not spec.block
        and not spec.backbone  # built whole, slowly: tests/engine/test_backbones.py
        and k not in ("dense", "flatten")
        and not k.startswith("global")
    )
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["conv2d", *image_kinds])
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
        elif kind in ("separableconv2d", "depthwiseconv2d"):
            strides = rng.choice([1, 1, 2, [2, 1]])
            args = {
                "kernel_size": k,
                "strides": strides,
                "dilation_rate": 1 if strides != 1 else rng.choice([1, 2]),
                "padding": rng.choice(["valid", "same"]),
                "depth_multiplier": rng.choice([1, 1, 2]),
                "use_bias": rng.random() < 0.7,
            }
            if kind == "separableconv2d":
                args |= {"filters": rng.randint(1, 12), "l2": rng.choice([None, 1e-4])}
            layers.append({kind: args})
        elif kind == "layernorm":
            layers.append({kind: {"center": rng.random() < 0.8, "scale": rng.random() < 0.8}})
        elif kind == "groupnorm":
            layers.append({kind: {"groups": 1}})  # divides any channel count
        elif kind == "gaussiandropout":
            layers.append({kind: rng.choice([0.1, 0.4])})
        elif kind == "gaussiannoise":
            layers.append({kind: rng.choice([0.0, 0.1])})
        elif kind == "zeropadding2d":
            layers.append({kind: rng.choice([1, 2, [1, 0], [[0, 1], [2, 0]]])})
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
        else:  # any other kind: the example its declaration gives
            layers.append({kind: REGISTRY[kind].example})
    layers.append(rng.choice([{"flatten": {}}, {"globalavgpool2d": {}}, {"globalmaxpool2d": {}}]))
    for _ in range(rng.randint(0, 2)):
        layers.append({"dense": {"units": rng.randint(1, 40), "use_bias": rng.random() < 0.8}})
        if rng.random() < 0.4:
            layers.append({"dropout": 0.3} if rng.random() < 0.5 else {"batchnorm": {}})
    layers.append({"dense": {"units": 10, "activation": "softmax"}})
    return layers, shape


@functools.cache  # the same 200 configs for both tests that read them
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
    seen = {e.kind for cfg, _ in generated_configs() for e in cfg.model.layers}
    assert seen == {k for k, spec in REGISTRY.items() if not spec.block and not spec.backbone}


def test_shapes_and_params_match_keras_for_200_configs():
    for cfg, shape in generated_configs():
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"input_shape": shape})})
        table = infer_shapes(cfg.model.layers, shape, 10)
        assert_matches_keras(cfg, table, f"{[e.kind for e in cfg.model.layers]} on {shape}")


def example_config(name: str) -> tuple[Config, tuple]:
    """A kind's declared example on its declared input, flattened first when it needs a
    flat input and flattened after when its output is a map, then a 3-class head."""
    spec = REGISTRY[name]
    shape, layers = spec.example_input, [{name: spec.example}]
    probe = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
    table = infer_shapes(probe.model.layers, shape)
    if table.problems and not spec.image_only:
        layers = ["flatten", *layers]
        probe = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
        table = infer_shapes(probe.model.layers, shape)
    if len(table.output_shape or ()) != 1:
        layers.append("flatten")
    layers.append({"dense": {"units": 3, "activation": "softmax"}})
    raw = {"data": {"source": "digits"}, "model": {"input_shape": list(shape), "layers": layers}}
    return Config.model_validate(raw), shape


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_kind_validates_builds_and_matches_keras(name: str):
    cfg, shape = example_config(name)
    table = infer_shapes(cfg.model.layers, shape, 3)
    assert not table.problems, table.problems
    assert_matches_keras(cfg, table, name)
    # the resolved config comes back whole
    assert Config.model_validate(cfg.resolved()).resolved() == cfg.resolved()


def test_the_table_of_layer_kinds_is_the_declarations():
    """docs/config.md's table pairs each kind with the Keras class its declaration names,
    and the README's list names every kind."""
    text = (ROOT / "docs" / "config.md").read_text()
    table = text.split("| kind | Keras layer | main arguments |")[1].split("\n\n")[0]
    documented = {}
    for row in table.strip().splitlines()[1:]:
        kinds, classes = (re.findall(r"`([A-Za-z0-9]+)`", cell) for cell in row.split("|")[1:3])
        assert len(kinds) == len(classes), row
        documented |= dict(zip(kinds, classes, strict=True))
    declared = {
        k: spec.keras for k, spec in REGISTRY.items() if not spec.block and not spec.backbone
    }
    assert documented == declared
    blocks = [k for k, spec in REGISTRY.items() if spec.block or spec.backbone]
    readme = (ROOT / "README.md").read_text()
    assert not [k for k in [*blocks, *declared] if f"`{k}`" not in text + readme]
