"""The layer registry: every layer kind defined once, with its arguments, shape rule and facts.

A kind is a `LayerKind`: the pydantic model of its arguments (so validation, error messages
and the JSON Schema follow from it), its shape rule (output shape, parameters and
multiply-adds in plain Python), and its placement facts (is it a dropout, a normalisation,
does its `activation` decide the network's output). Its Keras builder lives in the engine,
keyed by the same name (`cnnrun.engine.layers`). A block is a kind whose arguments hold a
`layers` list of their own; the schema, the shape pass and the builder recurse into it.

Example:
    >>> entry = LayerEntry.parse({"dropout": 0.25})
    >>> entry.kind, entry.args.rate, REGISTRY["dropout"].dropout
    ('dropout', 0.25, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import create_model
from pydantic_core import PydanticCustomError, core_schema

from cnnrun.config.fields import Section
from cnnrun.errors import Problem, format_path

Shape = tuple[int, ...]
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Step:
    """What one layer does to a sample: its output shape and what it costs.

    Args:
        shape: the output shape, batch axis excluded.
        params: all its weights, trainable or not.
        trainable: the trainable ones.
        macs: forward multiply-adds per sample.
        inner: a block's inner rows, in order.
    """

    shape: Shape
    params: int = 0
    trainable: int = 0
    macs: int = 0
    inner: list[Any] = field(default_factory=list)


class ShapeError(Exception):
    """A layer cannot take the shape it is given; carries the located problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


# A rule gets the layer's arguments, its input shape, its field path, and a function that
# runs the shape pass over a layer list (for blocks): `infer(layers, shape, loc) -> (rows, shape)`.
ShapeRule = Callable[[Any, Shape, Loc, Callable[..., tuple[list[Any], Shape]]], Step]


@dataclass(frozen=True)
class LayerKind:
    """One layer kind of the config.

    Args:
        name: the YAML key, e.g. `conv2d`.
        args: the pydantic model of its arguments, with Keras's own argument names.
        shape: its shape rule (see `ShapeRule`).
        shorthand: the argument a bare scalar stands for (`dropout: 0.25`).
        image_only: needs an input of shape (height, width, channels).
        dropout: drops or perturbs activations during training only.
        normalization: normalises its input (batchnorm and the like).
        weighted: a dense or convolution layer whose weights a normalisation may follow.
        activation_arg: its `activation` argument is what the layer outputs through.
        passthrough: changes neither shape nor what the output activation is.
    """

    name: str
    args: type[Section]
    shape: ShapeRule
    shorthand: str | None = None
    image_only: bool = False
    dropout: bool = False
    normalization: bool = False
    weighted: bool = False
    activation_arg: bool = False
    passthrough: bool = False

    @property
    def block(self) -> bool:
        """Whether it holds a `layers` list of its own."""
        return "layers" in self.args.model_fields

    @cached_property
    def entry_model(self) -> type[Section]:
        # `{kind: args}` as a model of one field, so validation errors carry the kind in
        # their location: model.layers[3].conv2d.filters.
        return create_model(f"Entry_{self.name}", __base__=Section, **{self.name: (self.args, ...)})

    @property
    def takes_no_arguments(self) -> bool:
        return not any(f.is_required() for f in self.args.model_fields.values())


REGISTRY: dict[str, LayerKind] = {}
LAYER_MARK = "x-cnnrun-layer"


def register(kind: LayerKind) -> LayerKind:
    """Add a layer kind to the registry (its Keras builder goes in `cnnrun.engine.layers`)."""
    REGISTRY[kind.name] = kind
    return kind


def _validate_entry(value: Any) -> LayerEntry:
    if isinstance(value, LayerEntry):
        return value
    if isinstance(value, str):  # `- flatten` is `- flatten: {}`
        value = {value: {}}
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "layer_shape",
            "expected a one-key mapping like 'conv2d: {{filters: 16}}', got {value}",
            {"value": repr(value)},
        )
    if len(value) != 1:
        raise PydanticCustomError(
            "layer_shape",
            "expected exactly one layer kind per list item, got keys: {keys} "
            "(is a '-' missing, or an argument indented too little?)",
            {"keys": ", ".join(map(str, value)) or "none"},
        )
    ((name, args),) = value.items()
    kind = REGISTRY.get(str(name))
    if kind is None:
        raise PydanticCustomError(
            "unknown_layer_kind", "unknown layer kind '{kind}'", {"kind": name}
        )
    if args is None:
        args = {}
    elif kind.shorthand and not isinstance(args, dict):
        args = {kind.shorthand: args}
    entry = kind.entry_model.model_validate({name: args})
    return LayerEntry(kind.name, getattr(entry, kind.name))


def _serialize_entry(entry: LayerEntry, info: Any) -> dict:
    return {entry.kind: entry.args.model_dump(mode=info.mode)}


@dataclass(frozen=True)
class LayerEntry:
    """One item of a layer list: its kind and validated arguments.

    In YAML, a one-key mapping from the kind to its arguments (`conv2d: {filters: 16}`), a bare
    kind (`- flatten`), or a kind and its shorthand value (`dropout: 0.25`).
    """

    kind: str
    args: Any

    @property
    def spec(self) -> LayerKind:
        return REGISTRY[self.kind]

    @classmethod
    def parse(cls, value: Any) -> LayerEntry:
        """Validate one layer as written in YAML."""
        try:
            return _validate_entry(value)
        except PydanticCustomError as e:
            raise ValueError(e.message()) from None

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return core_schema.no_info_plain_validator_function(
            _validate_entry,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize_entry, info_arg=True
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict:
        # pydantic resolves a `$ref` it did not make itself, so a marker stands in for the
        # reference to `$defs/Layer` until `cnnrun.config.schema.json_schema` puts it there.
        return {LAYER_MARK: True}


def walk(
    layers: Sequence[LayerEntry], loc: Loc = ("model", "layers")
) -> Iterator[tuple[Loc, LayerEntry]]:
    """Every layer, blocks' inner ones included, with its field path, in order."""
    for i, entry in enumerate(layers):
        here = (*loc, i, entry.kind)
        yield here, entry
        if entry.spec.block:
            yield from walk(entry.args.layers, (*here, "layers"))


def feeding(
    layers: Sequence[LayerEntry], path: Sequence[int], loc: Loc = ("model", "layers")
) -> tuple[str, LayerEntry | None]:
    """The field path of the layer at `path` (its place in nested blocks) and the layer that
    feeds it, activation layers skipped: the one before it in its list, or, for a block's
    first layer, the one before the block.

    Example:
        >>> feeding(cfg.model.layers, (5, 0))
        ('model.layers[5].residual.layers[0].batchnorm', LayerEntry(kind='dropout', ...))
    """
    before: LayerEntry | None = None
    here: Loc = loc
    for depth, i in enumerate(path):
        entry = layers[i]
        j = i - 1
        while j >= 0 and layers[j].kind == "activation":
            j -= 1
        before = layers[j] if j >= 0 else before
        here = (*here, i, entry.kind)
        if depth < len(path) - 1:
            layers, here = entry.args.layers, (*here, "layers")
    return format_path(here), before


def mark_to_ref(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(LAYER_MARK):
            return {"$ref": "#/$defs/Layer"}
        return {k: mark_to_ref(v) for k, v in node.items()}
    if isinstance(node, list):
        return [mark_to_ref(v) for v in node]
    return node


def layer_schemas(defs: dict[str, dict]) -> dict:
    """The JSON Schema of one layer item: every registered kind in each form YAML allows.

    Args:
        defs: the `$defs` of the config schema, holding each kind's arguments model by name.
    """
    forms: list[dict] = []
    for kind in REGISTRY.values():
        value: list[dict] = [{"$ref": f"#/$defs/{kind.args.__name__}"}]
        if kind.shorthand:
            props = defs.get(kind.args.__name__, {}).get("properties", {})
            value.append(props.get(kind.shorthand, {}))
        if kind.takes_no_arguments:
            value.append({"type": "null"})
        forms.append(
            {
                "type": "object",
                "properties": {kind.name: value[0] if len(value) == 1 else {"anyOf": value}},
                "required": [kind.name],
                "additionalProperties": False,
            }
        )
    forms = [mark_to_ref(f) for f in forms]
    bare = [k.name for k in REGISTRY.values() if k.takes_no_arguments]
    forms.append({"enum": bare, "description": "a kind that takes no arguments, written alone"})
    return {"anyOf": forms, "description": "one layer: {kind: {argument: value, ...}}"}
