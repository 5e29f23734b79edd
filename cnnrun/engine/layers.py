"""Building a layer list onto a tensor with each kind's builder (`cnnrun.engine.builders`),
or replaying a built model's layers for precise batchnorm statistics (`Replay`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import keras

from cnnrun.config.layers import REGISTRY, LayerEntry
from cnnrun.engine.builders import BUILDERS, Get

L = keras.layers


@dataclass
class Replay:
    """A built model's graph again, on a new input and with its own layers (shared weights),
    the training-only layers (dropout, noise, augmentation) left out and each batchnorm
    replaced by a twin that normalises with each batch's own statistics: the forward pass of
    precise batchnorm statistics, which sees every batchnorm's input in one pass.

    Args:
        model: the built model.
        batchnorms: filled while replaying: each batchnorm's input tensor, the model's layer
            and its batch-statistics twin, in order.
    """

    model: keras.Model
    batchnorms: list[tuple[Any, Any, Any]] = field(default_factory=list)

    def get(self, name: str, make: Callable[[], Any]) -> Any:
        layer = self.model.get_layer(name)
        if learning_batchnorms(layer):
            return partial(self._backbone, layer)
        return layer

    def _backbone(self, backbone: keras.Model, x: Any) -> Any:
        """A backbone whose batchnorms learn: its output, each such batchnorm's input
        recorded. They are their own twins: the pass runs in training mode, where they
        normalise with the batch's statistics (and those in inference mode do not)."""
        bns = learning_batchnorms(backbone)
        probe = keras.Model(backbone.inputs, [backbone.outputs[0], *[b.input for b in bns]])
        out, *inputs = probe(x)
        self.batchnorms += [(a, b, b) for a, b in zip(inputs, bns, strict=True)]
        return out

    def layer(self, entry: LayerEntry, kw: dict, x: Any) -> Any | None:
        """The layer to apply to `x` for `entry`: the model's, a batchnorm's twin (`x` is then
        recorded as its input), or None (left out)."""
        spec = REGISTRY[entry.kind]
        if spec.passthrough:
            return None
        if not spec.normalization:
            return self.model.get_layer(kw["name"])
        bn = self.model.get_layer(kw["name"])
        twin = L.BatchNormalization(
            epsilon=bn.epsilon, center=bn.center, scale=bn.scale, name=f"{kw['name']}_batch"
        )
        self.batchnorms.append((x, bn, twin))
        return twin


def learning_batchnorms(layer: Any) -> list[Any]:
    """A backbone's batchnorms that learn from each batch (`batchnorm: train`): theirs are
    statistics precise batchnorm recomputes; [] for any other layer."""
    if not isinstance(layer, keras.Model):
        return []
    return [x for x in layer.layers if isinstance(x, L.BatchNormalization) and x.trainable]


def _make(get: Get | None) -> Get:
    return get if get is not None else (lambda name, make: make())


def apply_layers(
    layers: Sequence[LayerEntry],
    x: Any,
    prefix: str = "",
    dtype: str = "float32",
    output_from: int | None = None,
    replay: Replay | None = None,
) -> Any:
    """Build `layers` onto the tensor `x`; each layer is named `<kind>_<prefix><index>`.

    The names point back at the config: `conv2d_3` is `model.layers[3]`, `dense_4_1` the
    second layer inside the block at `model.layers[4]`.

    Args:
        dtype: the Keras dtype policy of every layer (`mixed_bfloat16`: compute in bfloat16,
            keep float32 weights).
        output_from: layers from this index on compute in float32 whatever `dtype` says, so
            the softmax and the loss see float32, as Keras's mixed-precision guide advises.
        replay: apply the layers of this built model instead of making new ones (`Replay`).
    """
    for i, entry in enumerate(layers):
        policy = "float32" if output_from is not None and i >= output_from else dtype
        kw = {"name": f"{entry.kind}_{prefix}{i}", "dtype": policy}
        if REGISTRY[entry.kind].block or REGISTRY[entry.kind].backbone:
            apply = partial(apply_layers, replay=replay)
            x = BUILDERS[entry.kind](entry.args, kw, x, apply, _make(replay and replay.get))
        elif replay is None:
            x = BUILDERS[entry.kind](entry.args, kw)(x)
        elif (layer := replay.layer(entry, kw, x)) is not None:
            x = layer(x)
    return x
