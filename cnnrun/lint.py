"""Warnings for layer placements known to hurt, each with a one-line reason.

These are warnings, not errors: the model trains, just worse than it could. `--strict` turns
them into errors for CI.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnrun.config import LayerEntry
from cnnrun.errors import Problem

DROPOUTS = ("dropout", "spatialdropout2d")


def lint_layers(layers: Sequence[LayerEntry]) -> list[Problem]:
    """Known-bad placements in a layer stack.

    Example:
        >>> [p.message for p in lint_layers(cfg.model.layers)]
        ['dropout right before batchnorm causes variance shift: ...']
    """
    out = []
    weighted = [i for i, e in enumerate(layers) if e.kind in ("dense", "conv2d")]
    last_weighted = weighted[-1] if weighted else None
    for i, entry in enumerate(layers):
        loc = ("model", "layers", i, entry.kind)
        if entry.kind != "batchnorm":
            if entry.kind in DROPOUTS and last_weighted is not None and i > last_weighted:
                out.append(
                    Problem(
                        f"{entry.kind} after the output layer zeroes predictions at random during "
                        "training and does nothing at test time",
                        loc,
                        warning=True,
                        hint="move it before the last dense layer",
                    )
                )
            continue
        # Look back past activation layers for what feeds this batchnorm.
        j = i - 1
        while j >= 0 and layers[j].kind == "activation":
            j -= 1
        if j < 0:
            continue
        prev = layers[j]
        if prev.kind in DROPOUTS:
            out.append(
                Problem(
                    f"{prev.kind} right before batchnorm causes variance shift: batchnorm "
                    "learns its moving variance from dropped-out activations, which differ "
                    "at test time (Li et al., 2019)",
                    loc,
                    warning=True,
                    hint="put dropout after the batchnorm layers, e.g. before the last dense",
                )
            )
        elif prev.kind in ("dense", "conv2d"):
            act = prev.args.activation  # type: ignore[attr-defined]
            if act == "softmax":
                out.append(
                    Problem(
                        "batchnorm after a softmax output turns probabilities back into arbitrary "
                        "numbers",
                        loc,
                        warning=True,
                        hint="remove it, or move it before the output layer",
                    )
                )
            elif act == "linear" and prev.args.use_bias and entry.args.center:  # type: ignore
                out.append(
                    Problem(
                        f"the bias of layers[{j}] ({prev.kind}) is redundant: batchnorm "
                        "subtracts the mean and adds its own offset",
                        ("model", "layers", j, prev.kind, "use_bias"),
                        warning=True,
                        hint="set use_bias: false",
                    )
                )
    return out
