"""The layer registry: every kind validates, builds, and its plain-Python shapes and parameter
counts equal Keras's, layer by layer; a block kind registered here recurses everywhere."""

from __future__ import annotations

import random

import pytest

from cnnrun.config.layers import REGISTRY, Step, kind
from cnnrun.config.lint import lint_layers
from cnnrun.config.schema import Config, json_schema
from cnnrun.config.shapes import LayerTable, infer_shapes

keras = pytest.importorskip("keras")

N_CONFIGS = 200


def random_stack(rng: random.Random) -> tuple[list[dict], tuple[int, int, int]]:  # noqa: C901
    """A random but mostly plausible layer stack for a random input size."""
    shape = (rng.choice([8, 12, 16, 28, 32]), rng.choice([8, 10, 16, 28]), rng.choice([1, 3]))
    layers: list[dict] = []
    image_kinds = sorted(
        k
        for k, spec in REGISTRY.items()
        if not spec.block and k not in ("dense", "flatten") and not k.startswith("global")
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
    from cnnrun.config.layers import REGISTRY

    seen = {e.kind for cfg, _ in generated_configs() for e in cfg.model.layers}
    assert seen == {k for k, spec in REGISTRY.items() if not spec.block}


def test_shapes_and_params_match_keras_for_200_configs():

    for cfg, shape in generated_configs():
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"input_shape": shape})})
        table = infer_shapes(cfg.model.layers, shape, 10)
        assert_matches_keras(cfg, table, f"{[e.kind for e in cfg.model.layers]} on {shape}")


def assert_matches_keras(cfg: Config, table: LayerTable, what: str) -> None:
    """Each table row against the Keras layer of the same name, and the totals."""
    from cnnrun.engine.model import build_model

    model = build_model(cfg, compile=False)
    for row in table.rows:
        layer = model.get_layer(f"{row.kind}_{'_'.join(map(str, row.path))}")
        where = f"{row.kind} at {row.path} of {what}"
        assert (None, *row.output_shape) == tuple(layer.output.shape), where
        if not REGISTRY[row.kind].block:
            assert row.params == layer.count_params(), where
            trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
            assert row.trainable == trainable, where
    assert table.total_params == model.count_params(), what
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert table.trainable_params == trainable, what


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


@pytest.fixture
def stack_kind():
    """A block kind of the test's own: its inner layers one after the other."""
    from cnnrun.config.layers import LayerArgs, LayerEntry
    from cnnrun.engine.builders import BUILDERS, builds

    @kind("stack")
    class Stack(LayerArgs):
        layers: list[LayerEntry]

        def output(self, shape, loc, infer) -> Step:
            rows, out = infer(self.layers, shape, (*loc, "layers"))
            return Step(out, inner=rows)

    @builds("stack")
    def build(a, kw: dict, x, apply, get):
        inner = apply(a.layers, x, f"{kw['name'].split('_', 1)[1]}_", kw["dtype"])
        return get(kw["name"], lambda: keras.layers.Identity(**kw))(inner)  # carries its name

    yield "stack"
    del REGISTRY["stack"], BUILDERS["stack"]


def test_a_registered_block_kind_recurses_through_schema_shapes_builder_and_lint(stack_kind):
    import jsonschema

    layers = [
        {"conv2d": {"filters": 4, "padding": "same"}},
        {"stack": {"layers": [{"dropout": 0.5}, "batchnorm", {"conv2d": {"filters": 6}}]}},
        "flatten",
        {"dense": {"units": 10, "activation": "softmax"}},
    ]
    raw = {"data": {"source": "digits"}, "model": {"input_shape": [8, 8, 1], "layers": layers}}
    cfg = Config.model_validate(raw)
    table = infer_shapes(cfg.model.layers, (8, 8, 1), 10)
    assert not table.problems
    assert [(r.kind, r.path, r.depth) for r in table.rows] == [
        ("conv2d", (0,), 0),
        ("stack", (1,), 0),
        ("dropout", (1, 0), 1),
        ("batchnorm", (1, 1), 1),
        ("conv2d", (1, 2), 1),
        ("flatten", (2,), 0),
        ("dense", (3,), 0),
    ]
    assert_matches_keras(cfg, table, "a stack block")
    warnings = lint_layers(cfg.model.layers)
    assert [w.path for w in warnings] == ["model.layers[1].stack.layers[1].batchnorm"]
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not list(validator.iter_errors(raw))
    bad = {**raw, "model": {"layers": [{"stack": {"layers": [{"dropout": 2}]}}]}}
    assert list(validator.iter_errors(bad))
    with pytest.raises(ValueError, match="stack.layers.0.dropout.rate"):
        Config.model_validate(bad)


RESIDUALS = {
    "identity": [
        {"conv2d": {"filters": 8, "padding": "same"}},
        {
            "residual": {
                "layers": [
                    {"conv2d": {"filters": 8, "padding": "same", "use_bias": False}},
                    "batchnorm",
                    {"dropout": 0.2},
                    {"conv2d": {"filters": 8, "padding": "same", "activation": "linear"}},
                ]
            }
        },
    ],
    "projection, strided": [
        {"conv2d": {"filters": 4}},
        {
            "residual": {
                "shortcut": "projection",
                "layers": [
                    {"separableconv2d": {"filters": 12, "strides": 2, "padding": "same"}},
                    {"residual": {"layers": [{"depthwiseconv2d": {"padding": "same"}}]}},
                    {"groupnorm": {"groups": 4}},
                ],
            }
        },
    ],
}


@pytest.mark.parametrize("name", sorted(RESIDUALS))
def test_residual_blocks_nest_and_match_keras(name: str):
    layers = [
        *RESIDUALS[name],
        "globalavgpool2d",
        {"dense": {"units": 10, "activation": "softmax"}},
    ]
    raw = {"data": {"source": "digits"}, "model": {"input_shape": [9, 9, 1], "layers": layers}}
    cfg = Config.model_validate(raw)
    table = infer_shapes(cfg.model.layers, (9, 9, 1), 10)
    assert not table.problems, table.problems
    assert_matches_keras(cfg, table, name)
    from cnnrun.engine.model import build_model

    model = build_model(cfg, compile=False)
    assert {type(layer).__module__.split(".")[0] for layer in model.layers} == {"keras"}


def test_identity_shortcut_that_cannot_add_names_both_shapes():
    layers = [
        {"residual": {"layers": [{"conv2d": {"filters": 6, "padding": "same"}}]}},
        "flatten",
        {"dense": {"units": 10, "activation": "softmax"}},
    ]
    cfg = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
    (problem,) = infer_shapes(cfg.model.layers, (8, 8, 1), 10).problems
    assert problem.path == "model.layers[0].residual.shortcut"
    assert "(8, 8, 1)" in problem.message and "(8, 8, 6)" in problem.message
    assert "projection" in problem.hint
    layers[0]["residual"]["shortcut"] = "projection"
    layers[0]["residual"]["layers"] = [{"conv2d": {"filters": 6}}]  # 8x8 -> 6x6: no stride does
    cfg = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
    (problem,) = infer_shapes(cfg.model.layers, (8, 8, 1), 10).problems
    assert "8x8" in problem.message and "6x6" in problem.message


def test_dropout_before_a_block_whose_first_layer_is_batchnorm_is_linted():
    layers = [
        {"conv2d": {"filters": 4, "padding": "same"}},
        {"dropout": 0.5},
        {"residual": {"layers": ["batchnorm", {"conv2d": {"filters": 4, "padding": "same"}}]}},
        "flatten",
        {"dense": {"units": 10, "activation": "softmax"}},
    ]
    cfg = Config.model_validate({"data": {"source": "digits"}, "model": {"layers": layers}})
    assert [w.path for w in lint_layers(cfg.model.layers)] == [
        "model.layers[2].residual.layers[0].batchnorm"
    ]
