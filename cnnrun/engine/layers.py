"""The Keras builder of every layer kind in the registry, keyed by the kind's name.

A plain kind's builder takes its validated arguments and a layer name and returns a Keras
layer. A block's builder (`BLOCKS`) takes the arguments, a name, the input tensor and
`apply`, which builds a layer list onto a tensor, and returns the block's output tensor,
made by a layer named as the block (`residual_3`): blocks are made of stock Keras layers,
so a saved model loads in plain Keras.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import keras

from cnnrun.config.kinds import projection_strides
from cnnrun.config.layers import REGISTRY, LayerEntry

L = keras.layers


def _reg(l2: float | None) -> Any:
    return keras.regularizers.L2(l2) if l2 else None


def _act(name: str) -> str | None:
    return None if name == "linear" else name


def _window(a: Any) -> dict[str, Any]:
    """The arguments every sliding-window convolution kind shares, as Keras names them."""
    return {
        "strides": a.strides,
        "padding": a.padding,
        "dilation_rate": a.dilation_rate,
        "activation": _act(a.activation),
        "use_bias": a.use_bias,
    }


# A builder gets the kind's arguments and Keras's `name` and `dtype` (the precision policy).
LAYERS: dict[str, Callable[[Any, dict], keras.layers.Layer]] = {
    "conv2d": lambda a, kw: L.Conv2D(
        a.filters, a.kernel_size, kernel_regularizer=_reg(a.l2), **_window(a), **kw
    ),
    "dense": lambda a, kw: L.Dense(
        a.units,
        activation=_act(a.activation),
        use_bias=a.use_bias,
        kernel_regularizer=_reg(a.l2),
        **kw,
    ),
    "depthwiseconv2d": lambda a, kw: L.DepthwiseConv2D(
        a.kernel_size, depth_multiplier=a.depth_multiplier, **_window(a), **kw
    ),
    "separableconv2d": lambda a, kw: L.SeparableConv2D(
        a.filters,
        a.kernel_size,
        depth_multiplier=a.depth_multiplier,
        depthwise_regularizer=_reg(a.l2),
        pointwise_regularizer=_reg(a.l2),
        **_window(a),
        **kw,
    ),
    "maxpool2d": lambda a, kw: L.MaxPooling2D(
        a.pool_size, strides=a.strides, padding=a.padding, **kw
    ),
    "avgpool2d": lambda a, kw: L.AveragePooling2D(
        a.pool_size, strides=a.strides, padding=a.padding, **kw
    ),
    "zeropadding2d": lambda a, kw: L.ZeroPadding2D(a.padding, **kw),
    "globalavgpool2d": lambda a, kw: L.GlobalAveragePooling2D(**kw),
    "globalmaxpool2d": lambda a, kw: L.GlobalMaxPooling2D(**kw),
    "flatten": lambda a, kw: L.Flatten(**kw),
    "dropout": lambda a, kw: L.Dropout(a.rate, **kw),
    "spatialdropout2d": lambda a, kw: L.SpatialDropout2D(a.rate, **kw),
    "batchnorm": lambda a, kw: L.BatchNormalization(
        momentum=a.momentum, epsilon=a.epsilon, center=a.center, scale=a.scale, **kw
    ),
    "activation": lambda a, kw: L.Activation(a.activation, **kw),
    "layernorm": lambda a, kw: L.LayerNormalization(
        epsilon=a.epsilon, center=a.center, scale=a.scale, **kw
    ),
    "groupnorm": lambda a, kw: L.GroupNormalization(
        a.groups, epsilon=a.epsilon, center=a.center, scale=a.scale, **kw
    ),
    "gaussiandropout": lambda a, kw: L.GaussianDropout(a.rate, **kw),
    "gaussiannoise": lambda a, kw: L.GaussianNoise(a.stddev, **kw),
    "randomflip": lambda a, kw: L.RandomFlip(a.mode, **kw),
    "randomrotation": lambda a, kw: L.RandomRotation(a.factor, fill_mode=a.fill_mode, **kw),
    "randomzoom": lambda a, kw: L.RandomZoom(
        a.height_factor, a.width_factor, fill_mode=a.fill_mode, **kw
    ),
    "randomtranslation": lambda a, kw: L.RandomTranslation(
        a.height_factor, a.width_factor, fill_mode=a.fill_mode, **kw
    ),
}

Apply = Callable[..., Any]
Get = Callable[[str, Callable[[], Any]], Any]


def residual(a: Any, kw: dict, x: Any, apply: Apply, get: Get) -> Any:
    """activation(inner(x) + shortcut(x)): stock `Add` and `Activation` layers, no custom class.

    The shortcut is `x` itself, or a 1x1 convolution (a dense layer on flat inputs) onto the
    inner output's shape, named `<block>_projection`; the shape rule has checked it exists.
    `get(name, make)` makes a layer, or, replaying a built model, finds it.
    """
    name, dtype = kw["name"], kw["dtype"]
    inner = apply(a.layers, x, f"{name.split('_', 1)[1]}_", dtype)
    short = x
    if a.shortcut == "projection":
        out, proj = inner.shape, f"{name}_projection"
        if len(out) == 2:
            short = get(proj, lambda: L.Dense(out[-1], name=proj, dtype=dtype))(x)
        else:
            strides = projection_strides(tuple(x.shape[1:]), tuple(out[1:]))
            make = lambda: L.Conv2D(out[-1], 1, strides=strides, name=proj, dtype=dtype)  # noqa: E731
            short = get(proj, make)(x)
    added = get(f"{name}_add", lambda: L.Add(name=f"{name}_add", dtype=dtype))([inner, short])
    return get(name, lambda: L.Activation(a.activation, **kw))(added)


BLOCKS: dict[str, Callable[[Any, dict, Any, Apply, Get], Any]] = {"residual": residual}


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
        return self.model.get_layer(name)

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
        if REGISTRY[entry.kind].block:
            apply = partial(apply_layers, replay=replay)
            x = BLOCKS[entry.kind](entry.args, kw, x, apply, _make(replay and replay.get))
        elif replay is None:
            x = LAYERS[entry.kind](entry.args, kw)(x)
        elif (layer := replay.layer(entry, kw, x)) is not None:
            x = layer(x)
    return x
