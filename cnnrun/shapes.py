"""Output shape, parameters and multiply-adds of every layer, in plain Python (no TensorFlow).

The rules follow Keras 3 (`keras/src/ops/operation_utils.py`); `tests/test_shapes_vs_keras.py`
checks them against real Keras layers on generated configs. Impossible stacks are errors
here, before any training: a kernel larger than its input, `dense` on an image without
`flatten`, a last layer that does not match the classes or the loss.

Example:
    >>> table = infer_shapes(cfg.model.layers, (8, 8, 1), num_classes=10)
    >>> table.rows[0].output_shape, table.total_params
    ((8, 8, 16), 4074)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from cnnrun.config import LayerEntry, Section
from cnnrun.errors import Problem

Shape = tuple[int, ...]

# Layers that change neither shape nor values' meaning for the output-activation check.
PASSTHROUGH = {
    "dropout",
    "spatialdropout2d",
    "randomflip",
    "randomrotation",
    "randomzoom",
    "randomtranslation",
}
IMAGE_ONLY = {
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "globalavgpool2d",
    "globalmaxpool2d",
    "spatialdropout2d",
    "randomflip",
    "randomrotation",
    "randomzoom",
    "randomtranslation",
}


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table; `output_shape` excludes the batch axis."""

    index: int
    kind: str
    args: str
    output_shape: Shape | None
    params: int
    trainable: int
    macs: int = 0  # forward multiply-adds per sample (FLOPs are twice this)


@dataclass
class LayerTable:
    """The layer table of a model, and the errors that make it impossible to build."""

    input_shape: Shape
    rows: list[LayerRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

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

    @property
    def output_shape(self) -> Shape | None:
        return self.rows[-1].output_shape if self.rows else self.input_shape


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def conv_out(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """One spatial output size of a convolution or pooling, as Keras computes it."""
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def describe_args(args: Section) -> str:
    """A short `key=value` summary of the arguments a user set, for the layer table."""
    shown = args.model_dump(exclude_defaults=True)
    if "activation" in type(args).model_fields:
        shown.setdefault("activation", getattr(args, "activation"))  # noqa: B009
    parts = []
    for key, value in shown.items():
        if isinstance(value, tuple | list):
            value = "x".join(map(str, value))
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def output_activation(layers: Sequence[LayerEntry]) -> str:
    """The activation the network's outputs come out of ('linear' means logits)."""
    for entry in reversed(layers):
        if entry.kind in PASSTHROUGH:
            continue
        if entry.kind in ("dense", "conv2d", "activation"):
            return entry.args.activation  # type: ignore[attr-defined]
        return "linear"
    return "linear"


def _spatial(
    shape: Shape,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
    loc: tuple,
    what: str,
) -> tuple[Shape | None, Problem | None]:
    h, w, _ = shape
    eff = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    out = (
        conv_out(h, kernel[0], strides[0], dilation[0], padding),
        conv_out(w, kernel[1], strides[1], dilation[1], padding),
    )
    if out[0] < 1 or out[1] < 1:
        size = f"{eff[0]}x{eff[1]}"
        msg = (
            f"{what} {size} is larger than the {h}x{w} input it gets, so the output size reaches 0"
        )
        return None, Problem(
            msg, loc, hint="use padding: same, a smaller size, or fewer pooling layers before it"
        )
    return out, None


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
        A `LayerTable`; its `problems` are errors located by field path (no line yet). Rows stop
        at the first layer whose input shape cannot work.
    """
    table = LayerTable(tuple(input_shape))
    shape: Shape = tuple(input_shape)
    for i, entry in enumerate(layers):
        kind, a = entry.kind, entry.args
        loc = ("model", "layers", i, kind)
        params = trainable = macs = 0
        new: Shape | None = shape
        problem = None
        if kind in IMAGE_ONLY and len(shape) != 3:
            problem = Problem(
                f"{kind} needs an image-shaped input (height, width, channels), got the "
                f"flat shape {shape}",
                loc,
                hint="move it before flatten/global pooling",
            )
        if problem is None and kind == "conv2d":
            kernel, strides, dil = pair(a.kernel_size), pair(a.strides), pair(a.dilation_rate)
            if max(strides) > 1 and max(dil) > 1:
                problem = Problem(
                    "strides > 1 and dilation_rate > 1 cannot be combined (Keras refuses it)",
                    (*loc, "dilation_rate"),
                )
            else:
                hw, problem = _spatial(
                    shape, kernel, strides, dil, a.padding, (*loc, "kernel_size"), "kernel_size"
                )
                if hw:
                    new = (*hw, a.filters)
                    params = trainable = kernel[0] * kernel[1] * shape[2] * a.filters + (
                        a.filters if a.use_bias else 0
                    )
                    macs = math.prod(new) * kernel[0] * kernel[1] * shape[2]
        elif problem is None and kind in ("maxpool2d", "avgpool2d"):
            pool = pair(a.pool_size)
            strides = pair(a.strides) if a.strides is not None else pool
            hw, problem = _spatial(
                shape, pool, strides, (1, 1), a.padding, (*loc, "pool_size"), "pool_size"
            )
            if hw:
                new = (*hw, shape[2])
        elif problem is None and kind in ("globalavgpool2d", "globalmaxpool2d"):
            new = (shape[2],)
        elif kind == "flatten":
            new = (math.prod(shape),)
        elif kind == "dense":
            if len(shape) != 1:
                problem = Problem(
                    f"dense on an image-shaped input {shape} would act on the last axis only",
                    loc,
                    hint="add flatten or globalavgpool2d before it",
                )
            else:
                new = (a.units,)
                params = trainable = shape[0] * a.units + (a.units if a.use_bias else 0)
                macs = shape[0] * a.units
        elif kind == "batchnorm":
            channels = shape[-1]
            trainable = channels * (int(a.center) + int(a.scale))
            params = trainable + 2 * channels  # moving mean and variance are not trained
            macs = math.prod(shape)  # at inference, one scale-and-shift per value
        if problem:
            table.problems.append(problem)
            break
        shape = new
        table.rows.append(LayerRow(i, kind, describe_args(a), shape, params, trainable, macs))

    if not table.problems and num_classes is not None:
        table.problems.extend(_check_output(layers, shape, num_classes, loss))
    return table


def _check_output(
    layers: Sequence[LayerEntry], shape: Shape, num_classes: int, loss: str
) -> list[Problem]:
    last = len(layers) - 1
    last_loc = ("model", "layers", last, layers[last].kind)
    if len(shape) != 1:
        return [
            Problem(
                f"the network ends in the image-shaped output {shape}; a classifier "
                f"must end in one value per class",
                last_loc,
                hint=f"end with flatten and dense: {{units: {num_classes}, activation: softmax}}",
            )
        ]
    binary = loss == "binary_crossentropy"
    want = 1 if binary else num_classes
    dense_i = next((i for i in range(last, -1, -1) if layers[i].kind == "dense"), last)
    out = []
    if shape[0] != want:
        units_loc = ("model", "layers", dense_i, layers[dense_i].kind, "units")
        if binary:
            msg = (
                f"binary_crossentropy needs 1 output unit, got {shape[0]}"
                if num_classes == 2
                else f"binary_crossentropy is for 2 classes, the data has {num_classes}"
            )
            hint = (
                "use units: 1 with activation: sigmoid"
                if num_classes == 2
                else "use loss: sparse_categorical_crossentropy"
            )
        else:
            msg = f"the network outputs {shape[0]} values but the data has {num_classes} classes"
            hint = f"set units: {num_classes}"
        out.append(Problem(msg, units_loc, hint=hint))
    act = output_activation(layers)
    act_i = next((i for i in range(last, -1, -1) if layers[i].kind not in PASSTHROUGH), last)
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
