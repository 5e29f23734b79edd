"""`cnnrun.config.layers.blocks`, kinds that hold layers of their own: residual blocks nest,
match Keras and name both shapes when a shortcut cannot add; a block kind registered by
anyone recurses through the schema, the shapes, the builder and the lint."""

from __future__ import annotations

import pytest

from cnnrun.config.layers import REGISTRY, Step, kind
from cnnrun.config.lint import lint_layers
from cnnrun.config.schema import Config, json_schema
from cnnrun.config.shapes import infer_shapes
from tests.support.layers import assert_matches_keras

keras = pytest.importorskip("keras")


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
