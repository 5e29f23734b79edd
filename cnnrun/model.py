"""Config -> `keras.Model`: the one builder that training and prediction both use.

Layers are named `<kind>_<index>` after their place in `model.layers`, so a layer in a Keras
error or a weights mismatch points straight back at the config.

Example:
    >>> model = build_model(plan.config, num_classes=10)
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

from typing import Any

import keras

from cnnrun.config import Config, LayerEntry
from cnnrun.shapes import output_activation


def _regularizer(l2: float | None) -> Any:
    return keras.regularizers.L2(l2) if l2 else None


def _act(name: str) -> str | None:
    return None if name == "linear" else name


def make_layer(entry: LayerEntry, index: int) -> keras.layers.Layer:
    """The Keras layer for one config entry, with Keras's own argument names."""
    a = entry.args
    name = f"{entry.kind}_{index}"
    L = keras.layers
    match entry.kind:
        case "conv2d":
            return L.Conv2D(
                a.filters,
                a.kernel_size,
                strides=a.strides,
                padding=a.padding,
                dilation_rate=a.dilation_rate,
                activation=_act(a.activation),
                use_bias=a.use_bias,
                kernel_regularizer=_regularizer(a.l2),
                name=name,
            )
        case "maxpool2d":
            return L.MaxPooling2D(a.pool_size, strides=a.strides, padding=a.padding, name=name)
        case "avgpool2d":
            return L.AveragePooling2D(a.pool_size, strides=a.strides, padding=a.padding, name=name)
        case "globalavgpool2d":
            return L.GlobalAveragePooling2D(name=name)
        case "globalmaxpool2d":
            return L.GlobalMaxPooling2D(name=name)
        case "flatten":
            return L.Flatten(name=name)
        case "dense":
            return L.Dense(
                a.units,
                activation=_act(a.activation),
                use_bias=a.use_bias,
                kernel_regularizer=_regularizer(a.l2),
                name=name,
            )
        case "dropout":
            return L.Dropout(a.rate, name=name)
        case "spatialdropout2d":
            return L.SpatialDropout2D(a.rate, name=name)
        case "batchnorm":
            return L.BatchNormalization(
                momentum=a.momentum, epsilon=a.epsilon, center=a.center, scale=a.scale, name=name
            )
        case "activation":
            return L.Activation(a.activation, name=name)
        case "randomflip":
            return L.RandomFlip(a.mode, name=name)
        case "randomrotation":
            return L.RandomRotation(a.factor, fill_mode=a.fill_mode, name=name)
        case "randomzoom":
            return L.RandomZoom(a.height_factor, a.width_factor, fill_mode=a.fill_mode, name=name)
        case "randomtranslation":
            return L.RandomTranslation(
                a.height_factor, a.width_factor, fill_mode=a.fill_mode, name=name
            )
    raise ValueError(f"unknown layer kind {entry.kind!r}")


def build_model(config: Config, compile: bool = True) -> keras.Model:
    """Build (and by default compile) the network a resolved config describes.

    Args:
        config: a resolved config (`model.input_shape` filled in by `make_plan`).
        compile: attach the optimizer, loss and metrics; prediction does not need them.
    """
    if config.model.input_shape is None:
        raise ValueError("model.input_shape must be resolved before building")
    layers = [keras.Input(shape=tuple(config.model.input_shape), name="input")]
    layers += [make_layer(e, i) for i, e in enumerate(config.model.layers)]
    model = keras.Sequential(layers, name=config.name or "cnnrun")
    if compile:
        t = config.train
        model.compile(
            optimizer=make_optimizer(config),
            loss=make_loss(config),
            metrics=make_metrics(config),
            jit_compile=t.jit_compile,
            steps_per_execution=t.steps_per_execution,
        )
    return model


def from_logits(config: Config) -> bool:
    """True when the last layer is linear, so the loss must apply softmax/sigmoid itself."""
    return output_activation(config.model.layers) == "linear"


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
    o = config.train.optimizer
    kwargs: dict[str, Any] = {"learning_rate": o.learning_rate}
    if o.weight_decay is not None:
        kwargs["weight_decay"] = o.weight_decay
    if o.momentum is not None:
        kwargs["momentum"] = o.momentum
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
        "adagrad": keras.optimizers.Adagrad,
    }
    return classes[o.name](**kwargs)


def make_loss(config: Config) -> keras.losses.Loss:
    logits = from_logits(config)
    match config.train.loss:
        case "sparse_categorical_crossentropy":
            return keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
        case "categorical_crossentropy":
            return keras.losses.CategoricalCrossentropy(from_logits=logits)
        case _:
            return keras.losses.BinaryCrossentropy(from_logits=logits)


def make_metrics(config: Config) -> list[keras.metrics.Metric]:
    out = []
    for name in config.train.metrics:
        if name == "accuracy":
            match config.train.loss:
                case "sparse_categorical_crossentropy":
                    out.append(keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
                case "categorical_crossentropy":
                    out.append(keras.metrics.CategoricalAccuracy(name="accuracy"))
                case _:  # a logit of 0 is a probability of 0.5
                    threshold = 0.0 if from_logits(config) else 0.5
                    out.append(keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold))
    return out
