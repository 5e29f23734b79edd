"""Output shape, parameters and multiply-adds of every layer, in plain Python (no TensorFlow).

Each kind's rule is its arguments' `output` method (`cnnrun.config.layers`); this module walks a
layer list with them, into blocks too, and checks the network's output against the data.
Impossible stacks are errors here, before any training: a kernel larger than its input,
`dense` on an image without `flatten`, a last layer that does not match the classes or the
loss.

Example:
    >>> from cnnrun.config.load import load_config
    >>> cfg = load_config("configs/digits.yaml").config
    >>> table = infer_shapes(cfg.model.layers, (8, 8, 1), num_classes=10)
    >>> table.rows[0].output_shape, table.total_params
    ((8, 8, 16), 9994)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cnnrun.config.fields import Section
from cnnrun.config.layers import LayerEntry, Loc, Shape, ShapeError, walk
from cnnrun.errors import Problem

MAX_BLOCK_DEPTH = 16  # blocks in blocks: the README's limits table


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table; `output_shape` excludes the batch axis.

    `index` is the layer's place in `model.layers`; `path` its place in nested blocks
    (`(3,)` at the top, `(3, 1)` for the second layer inside block 3), `depth` its nesting.
    """

    index: int
    kind: str
    args: str
    output_shape: Shape | None
    params: int
    trainable: int
    macs: int = 0  # forward multiply-adds per sample (FLOPs are twice this)
    path: tuple[int, ...] = ()

    @property
    def depth(self) -> int:
        return max(0, len(self.path) - 1)


@dataclass
class LayerTable:
    """The layer table of a model, and the errors that make it impossible to build.

    `rows` holds every layer, blocks' inner layers right after their block; totals count
    each weight once (a block's own row carries only what its inner rows do not).
    """

    input_shape: Shape
    rows: list[LayerRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    output_shape: Shape | None = None

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def trainable_params(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def total_macs(self) -> int:
        """Forward multiply-adds per sample; a training step costs about three times this."""
        return sum(r.macs for r in self.rows)


def describe_args(args: Section) -> str:
    """A short `key=value` summary of the arguments a user set, for the layer table."""
    shown = args.model_dump(exclude_defaults=True, exclude={"layers"})
    if "activation" in type(args).model_fields:
        shown.setdefault("activation", getattr(args, "activation"))  # noqa: B009
    parts = []
    for key, value in shown.items():
        if isinstance(value, tuple | list):
            value = "x".join(map(str, value))
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def _rows(
    layers: Sequence[LayerEntry], shape: Shape, loc: Loc, path: tuple[int, ...] = ()
) -> tuple[list[LayerRow], Shape]:
    """The rows of a layer list from `shape`; raises `ShapeError` at the first impossible one."""
    rows: list[LayerRow] = []
    for i, entry in enumerate(layers):
        here = (*loc, i, entry.kind)
        spec = entry.spec
        if spec.image_only and len(shape) != 3:
            raise ShapeError(
                Problem(
                    f"{entry.kind} needs an image-shaped input (height, width, channels), got "
                    f"the flat shape {shape}",
                    here,
                    hint="move it before flatten/global pooling",
                )
            )

        def infer(inner: Sequence[LayerEntry], start: Shape, at: Loc, _p: tuple = (*path, i)):
            return _rows(inner, start, at, _p)

        step = entry.args.output(shape, here, infer)
        top = path[0] if path else i
        rows.append(
            LayerRow(
                top,
                entry.kind,
                describe_args(entry.args),
                step.shape,
                step.params,
                step.trainable,
                step.macs,
                (*path, i),
            )
        )
        rows += step.inner
        shape = step.shape
    return rows, shape


def infer_shapes(
    layers: Sequence[LayerEntry],
    input_shape: Shape,
    num_classes: int | None = None,
    loss: str = "sparse_categorical_crossentropy",
) -> LayerTable:
    """Compute the layer table and find impossible stacks.

    Args:
        layers: the validated `model.layers`.
        input_shape: `(height, width, channels)` of one sample.
        num_classes: classes in the data, to check the last layer against; None skips that.
        loss: the training loss, to check the output layer against.

    Returns:
        A `LayerTable`; its `problems` are errors located by field path (no line yet).
    """
    table = LayerTable(tuple(input_shape))
    too_deep = _nesting_problem(layers)
    if too_deep is not None:
        table.problems.append(too_deep)
        return table
    try:
        table.rows, table.output_shape = _rows(layers, tuple(input_shape), ("model", "layers"))
    except ShapeError as e:
        table.problems.append(e.problem)
        return table
    if num_classes is not None:
        table.problems.extend(_check_output(layers, table.output_shape, num_classes, loss))
    return table


def _nesting_problem(layers: Sequence[LayerEntry]) -> Problem | None:
    """Blocks nested deeper than `MAX_BLOCK_DEPTH`, located at the first too deep.

    Real networks nest a block in a block at most; the limit keeps the run's records (each
    level a few levels of JSON) within what they can be written with.
    """
    for loc, entry in walk(layers):
        depth = sum(1 for part in loc if part == "layers") - 1
        if entry.spec.block and depth >= MAX_BLOCK_DEPTH:
            return Problem(
                f"blocks nest {depth + 1} deep here; at most {MAX_BLOCK_DEPTH} are allowed",
                loc,
                hint="a network nests a block in a block at most: flatten the rest",
            )
    return None


def output_activation(layers: Sequence[LayerEntry]) -> str:
    """The activation the network's outputs come out of ('linear' means logits)."""
    for entry in reversed(layers):
        if entry.spec.passthrough:
            continue
        if entry.spec.activation_arg:
            return entry.args.activation
        return "linear"
    return "linear"


def _last(layers: Sequence[LayerEntry], keep: object) -> int:
    return next((i for i in range(len(layers) - 1, -1, -1) if keep(layers[i])), len(layers) - 1)


def _check_output(
    layers: Sequence[LayerEntry], shape: Shape, num_classes: int, loss: str
) -> list[Problem]:
    last = len(layers) - 1
    if len(shape) != 1:
        return [
            Problem(
                f"the network ends in the image-shaped output {shape}; a classifier "
                f"must end in one value per class",
                ("model", "layers", last, layers[last].kind),
                hint=f"end with flatten and dense: {{units: {num_classes}, activation: softmax}}",
            )
        ]
    binary = loss == "binary_crossentropy"
    out = []
    if shape[0] != (1 if binary else num_classes):
        dense_i = _last(layers, lambda e: e.kind == "dense")
        units_loc = ("model", "layers", dense_i, layers[dense_i].kind, "units")
        out.append(_units_problem(binary, shape[0], num_classes, units_loc))
    act = output_activation(layers)
    act_i = _last(layers, lambda e: not e.spec.passthrough)
    act_loc = ("model", "layers", act_i, layers[act_i].kind, "activation")
    if binary and act not in ("sigmoid", "linear"):
        hint = "softmax over 1 unit is always 1.0" if act == "softmax" else ""
        out.append(
            Problem(
                f"binary_crossentropy expects a sigmoid (or linear, for logits) output, got {act}",
                act_loc,
                hint=hint or "use activation: sigmoid",
            )
        )
    elif not binary and act not in ("softmax", "linear"):
        out.append(
            Problem(
                f"{loss} expects a softmax (or linear, for logits) output, got {act}",
                act_loc,
                hint="use activation: softmax on the last layer",
            )
        )
    return out


def _units_problem(binary: bool, units: int, num_classes: int, loc: Loc) -> Problem:
    if not binary:
        return Problem(
            f"the network outputs {units} values but the data has {num_classes} classes",
            loc,
            hint=f"set units: {num_classes}",
        )
    if num_classes == 2:
        return Problem(
            f"binary_crossentropy needs 1 output unit, got {units}",
            loc,
            hint="use units: 1 with activation: sigmoid",
        )
    return Problem(
        f"binary_crossentropy is for 2 classes, the data has {num_classes}",
        loc,
        hint="use loss: sparse_categorical_crossentropy",
    )
