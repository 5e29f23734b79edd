"""The layer kinds, one module per family as in Keras's own `layers/`, each kind declared once
on its arguments class (`base.kind`); this package imports every family, so `REGISTRY` holds
every kind whichever module is imported first.

Example:
    >>> REGISTRY["conv2d"].keras, REGISTRY["dropout"].shorthand, REGISTRY["residual"].block
    ('Conv2D', 'rate', True)
"""

from __future__ import annotations

from cnnrun.config.layers import (
    augmentation,
    backbones,
    blocks,
    convolution,
    core,
    normalization,
    pooling,
    regularization,
    reshaping,
)
from cnnrun.config.layers.base import (
    REGISTRY,
    LayerArgs,
    LayerEntry,
    LayerKind,
    Loc,
    Shape,
    ShapeError,
    Step,
    feeding,
    kind,
    walk,
)
from cnnrun.config.layers.schema import layer_schemas, mark_to_ref

# The families in the order the docs list them; each module declares its kinds.
FAMILIES = (
    convolution,
    core,
    pooling,
    reshaping,
    regularization,
    normalization,
    augmentation,
    backbones,
    blocks,
)

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "LayerArgs",
    "LayerEntry",
    "LayerKind",
    "Loc",
    "Shape",
    "ShapeError",
    "Step",
    "feeding",
    "kind",
    "layer_schemas",
    "mark_to_ref",
    "walk",
]
