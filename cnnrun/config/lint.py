"""Warnings for layer placements known to hurt, each with a one-line reason.

These are warnings, not errors: the model trains, just worse than it could. `--strict` turns
them into errors for CI. What counts as a dropout, a normalisation or a weighted layer comes
from the layer registry's placement facts, and every layer list is checked, blocks' included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnnrun.config.layers import LayerEntry, Loc, walk
from cnnrun.errors import Problem


def lint_layers(
    layers: Sequence[LayerEntry], loc: Loc = ("model", "layers"), before: LayerEntry | None = None
) -> list[Problem]:
    """Known-bad placements in a layer stack and in every block inside it.

    `before` is the layer feeding a block's list: a dropout right before a block whose first
    layer is a batchnorm shifts that batchnorm's variance as it would outside the block.

    Example:
        >>> from cnnrun.config.layers import LayerEntry
        >>> layers = [LayerEntry.parse(x) for x in ({"dropout": 0.5}, "batchnorm", "flatten")]
        >>> [p.message[:46] for p in lint_layers(layers)]
        ['dropout right before batchnorm causes variance']
    """
    out = []
    if loc == ("model", "layers"):
        out += _after_output(layers, loc)
    for i, entry in enumerate(layers):
        if entry.spec.block:
            feeding = layers[i - 1] if i else before
            out += lint_layers(entry.args.layers, (*loc, i, entry.kind, "layers"), feeding)
        if entry.spec.normalization:
            out += _before_normalization(layers, i, loc, before)
    return out


def _after_output(layers: Sequence[LayerEntry], loc: Loc) -> list[Problem]:
    weighted = [i for i, e in enumerate(layers) if e.spec.weighted]
    if not weighted:
        return []
    return [
        Problem(
            f"{e.kind} after the output layer zeroes predictions at random during training "
            "and does nothing at test time",
            (*loc, i, e.kind),
            warning=True,
            hint="move it before the last dense layer",
        )
        for i, e in enumerate(layers)
        if e.spec.dropout and i > weighted[-1]
    ]


def _before_normalization(
    layers: Sequence[LayerEntry], i: int, loc: Loc, before: LayerEntry | None = None
) -> list[Problem]:
    """What feeds the normalisation at `i` (activation layers skipped) and why it hurts."""
    entry = layers[i]
    j = i - 1
    while j >= 0 and layers[j].kind == "activation":
        j -= 1
    if j < 0 and not (before is not None and before.spec.dropout):
        return []
    prev, here = layers[j] if j >= 0 else before, (*loc, i, entry.kind)
    if prev.spec.dropout:
        return [
            Problem(
                f"{prev.kind} right before {entry.kind} causes variance shift: {entry.kind} "
                "learns its moving variance from dropped-out activations, which differ at "
                "test time (Li et al., 2019)",
                here,
                warning=True,
                hint="put dropout after the batchnorm layers, e.g. before the last dense",
            )
        ]
    if not prev.spec.activation_arg or not prev.spec.weighted:
        return []
    act = prev.args.activation
    if act == "softmax":
        return [
            Problem(
                f"{entry.kind} after a softmax output turns probabilities back into arbitrary "
                "numbers",
                here,
                warning=True,
                hint="remove it, or move it before the output layer",
            )
        ]
    centers = getattr(entry.args, "center", False)
    if act == "linear" and getattr(prev.args, "use_bias", False) and centers:
        return [
            Problem(
                f"the bias of layers[{j}] ({prev.kind}) is redundant: {entry.kind} "
                "subtracts the mean and adds its own offset",
                (*loc, j, prev.kind, "use_bias"),
                warning=True,
                hint="set use_bias: false",
            )
        ]
    return []


# After the first few epochs, at most this share of the initial statistics (mean 0, variance
# 1) may be left in a batchnorm's moving averages before validation measures the lag rather
# than the network.
SETTLE_EPOCHS, SETTLE_LEFT = 3, 0.05


def lint_batchnorm_settling(
    layers: Sequence[LayerEntry], mode: str, steps_per_epoch: int, epochs: int
) -> list[Problem]:
    """With `moving` statistics: batchnorms whose averages cannot settle early in the run."""
    if mode != "moving":
        return []
    k = min(epochs, SETTLE_EPOCHS)
    out = []
    for loc, entry in walk(layers):
        momentum = getattr(entry.args, "momentum", None)
        if not entry.spec.normalization or momentum is None:
            continue
        left = momentum ** (steps_per_epoch * k)
        if left > SETTLE_LEFT:
            out.append(
                Problem(
                    f"with momentum {momentum} and {steps_per_epoch} steps an epoch, {left:.0%} "
                    f"of the initial statistics are still in the moving averages after {k} "
                    "epoch(s): validation then measures their lag, not the network",
                    loc,
                    warning=True,
                    hint="set train.batchnorm_stats: precise, or a lower momentum such as 0.9",
                )
            )
    return out


def lint_backbones(layers: Sequence[LayerEntry], phases: Sequence[Any] | None) -> list[Problem]:
    """A backbone that trains with its batchnorms learning from each batch: Keras's
    fine-tuning guide keeps them in inference mode, since a few small batches wreck the
    statistics they were pretrained with.

    Example:
        >>> from cnnrun.config.layers import LayerEntry
        >>> bb = {"application": {"name": "MobileNetV2", "trainable": True, "batchnorm": "train"}}
        >>> [p.path for p in lint_backbones([LayerEntry.parse(bb)], None)]
        ['model.layers[0].application.batchnorm']
    """
    opened = any(p.trainable != "head" for p in phases or ())
    out = []
    for loc, entry in walk(layers):
        a = entry.args
        pretrained = entry.spec.backbone and a.weights != "none"
        if pretrained and a.batchnorm == "train" and (a.trainable or opened):
            out.append(
                Problem(
                    f"{a.name} trains with batchnorm: train: its batchnorms replace their "
                    "pretrained statistics with small batches' own",
                    (*loc, "batchnorm"),
                    hint="leave batchnorm: inference (Keras's fine-tuning advice) unless you "
                    "mean it",
                    warning=True,
                )
            )
    return out


def lint_warmup(train: Any) -> list[Problem]:
    """A warm-up as long as the run (a CI smoke test's `--set train.epochs=1`): it is clipped
    to leave one epoch of the cosine decay, `warmup_epochs` itself when it fits.

    Example:
        >>> from cnnrun.config.schema import TrainConfig
        >>> t = TrainConfig(epochs=1, lr_schedule={"name": "cosine", "warmup_epochs": 1})
        >>> [p.message for p in lint_warmup(t)]
        ['warmup_epochs (1) is clipped to 0 for train.epochs 1: the cosine decay follows it']
    """
    warmup = getattr(train.lr_schedule, "warmup_epochs", 0)
    if not warmup or warmup < train.epochs:
        return []
    clipped = warmup_epochs(warmup, train.epochs)
    return [
        Problem(
            f"warmup_epochs ({warmup}) is clipped to {clipped} for train.epochs "
            f"{train.epochs}: the cosine decay follows it",
            ("train", "lr_schedule", "warmup_epochs"),
            warning=True,
        )
    ]


def warmup_epochs(warmup: int, epochs: int) -> int:
    """The warm-up a run of `epochs` gets: at most all but its last epoch."""
    return max(0, min(warmup, epochs - 1))
