"""Config -> `keras.Model`: the one builder that training and prediction both use.

A functional model of stock Keras layers, each built by its kind's builder
(`cnnrun.engine.layers`) and named after its place in `model.layers`, so a layer in a Keras
error or a weights mismatch points straight back at the config.

Example:
    >>> model = build_model(plan.config, compile=False)
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

from typing import Any

import keras

from cnnrun.config.schema import Config
from cnnrun.config.shapes import output_activation
from cnnrun.engine.layers import apply_layers


def build_model(config: Config, compile: bool = True) -> keras.Model:
    """Build (and by default compile) the network a resolved config describes.

    Args:
        config: a resolved config (`model.input_shape` filled in by `make_plan`).
        compile: attach the optimizer, loss and metrics; prediction does not need them.
    """
    if config.model.input_shape is None:
        raise ValueError("model.input_shape must be resolved before building")
    inputs = keras.Input(shape=tuple(config.model.input_shape), name="input")
    outputs = apply_layers(config.model.layers, inputs)
    model = keras.Model(inputs, outputs, name=config.name or "cnnrun")
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
