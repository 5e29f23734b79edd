"""What a layer kind is, and how one is declared: once, on its arguments class.

A kind is its arguments (a pydantic model with Keras's own argument names, so validation,
error messages and the JSON Schema follow from it), its shape rule (the model's `output`
method: output shape, parameters and multiply-adds in plain Python) and its facts, given to
the `kind` decorator: the Keras class it builds, its shorthand, its placement facts (is it a
dropout, a normalisation, does its `activation` decide the network's output) and an example.
Its Keras builder lives in the engine, declared with `cnnrun.engine.layers.builds` under the
same name. A block is a kind whose arguments hold a `layers` list of their own; the schema,
the shape pass and the builder recurse into it.

Example:
    ```python
    @kind("dropout", keras="Dropout", shorthand="rate", dropout=True, passthrough=True,
          example={"rate": 0.3})
    class Dropout(LayerArgs):
        rate: Rate
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

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


# The shape pass over a layer list, handed to blocks: `infer(layers, shape, loc) -> (rows, shape)`.
Infer = Callable[[Sequence["LayerEntry"], Shape, Loc], tuple[list[Any], Shape]]


class LayerArgs(Section):
    """The base of every kind's arguments; `output` is the kind's shape rule."""

    def output(self, shape: Shape, loc: Loc, infer: Infer) -> Step:
        """The layer's output shape and cost on an input of `shape` (batch axis excluded).

        Raises:
            ShapeError: the layer cannot take that shape; the problem is located at `loc`.
        """
        return Step(shape)  # the rule of layers that change no shape and hold no weights


class NoArgs(LayerArgs):
    """A layer that takes no arguments."""


@dataclass(frozen=True)
class LayerKind:
    """One layer kind of the config, as the `kind` decorator declared it.

    Args:
        name: the YAML key, e.g. `conv2d`.
        args: the pydantic model of its arguments, with Keras's own argument names.
        keras: the Keras class it builds (and that a Keras model file's layer maps back to).
        shorthand: the argument a bare scalar stands for (`dropout: 0.25`).
        image_only: needs an input of shape (height, width, channels).
        dropout: drops or perturbs activations during training only.
        normalization: normalises its input with moving statistics (batchnorm).
        weighted: a dense or convolution layer whose weights a normalisation may follow.
        activation_arg: its `activation` argument is what the layer outputs through.
        passthrough: changes neither shape nor what the output activation is.
        backbone: a pretrained network in one layer (`application`), which trains, freezes
            and keeps its batchnorms as its own arguments and `train.phases` say.
        example: arguments that build it, for the tests and the docs.
        example_input: the input shape the example is built on.
    """

    name: str
    args: type[LayerArgs]
    keras: str | None = None
    shorthand: str | None = None
    image_only: bool = False
    dropout: bool = False
    normalization: bool = False
    weighted: bool = False
    activation_arg: bool = False
    passthrough: bool = False
    backbone: bool = False
    example: dict[str, Any] = field(default_factory=dict)
    example_input: Shape = (8, 8, 4)

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

    @property
    def keras_arguments(self) -> list[str]:
        """The arguments that are Keras's own, as a Keras layer's config names them."""
        return [f for f in self.args.model_fields if f not in CNNRUN_ARGUMENTS]


# Arguments of cnnrun's own, not of the Keras class: `l2` is Keras's `kernel_regularizer`,
# `layers` a block's inner list.
CNNRUN_ARGUMENTS = ("l2", "layers")

# Every declared kind by name, in declaration order. The `kind` decorator fills it as each
# family module of `cnnrun.config.layers` is imported, which that package does for all of them.
REGISTRY: dict[str, LayerKind] = {}
LAYER_MARK = "x-cnnrun-layer"
A = TypeVar("A", bound=type[LayerArgs])


def kind(name: str, **facts: Any) -> Callable[[A], A]:
    """Declare a layer kind on its arguments class; `facts` are `LayerKind`'s fields.

    Raises:
        ValueError: a second kind of the same name.
    """

    def declare(args: A) -> A:
        if name in REGISTRY:
            raise ValueError(f"layer kind {name!r} is declared twice")
        REGISTRY[name] = LayerKind(name, args, **facts)
        return args

    return declare


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
    spec = REGISTRY.get(str(name))
    if spec is None:
        raise PydanticCustomError(
            "unknown_layer_kind", "unknown layer kind '{kind}'", {"kind": name}
        )
    if args is None:
        args = {}
    elif spec.shorthand and not isinstance(args, dict):
        args = {spec.shorthand: args}
    entry = spec.entry_model.model_validate({name: args})
    return LayerEntry(spec.name, getattr(entry, spec.name))


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
        """Validate one layer as written in YAML.

        Example:
            >>> entry = LayerEntry.parse({"dropout": 0.25})
            >>> entry.kind, entry.args.rate, entry.spec.dropout
            ('dropout', 0.25, True)
        """
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
        >>> layers = [LayerEntry.parse(x) for x in ({"dropout": 0.5}, {"activation": "relu"},
        ...                                          {"residual": {"layers": ["batchnorm"]}})]
        >>> path, before = feeding(layers, (2, 0))
        >>> path, before.kind
        ('model.layers[2].residual.layers[0].batchnorm', 'dropout')
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
