"""Config -> `keras.Model`: the one builder that training and prediction both use.

A functional model of stock Keras layers, each built by its kind's builder
(`cnnrun.engine.layers`) and named after its place in `model.layers`, so a layer in a Keras
error or a weights mismatch points straight back at the config.

Example:
    ```python
    model = build_model(plan.config, compile=False)
    model.output_shape  # (None, 10) for the digits
    ```
"""

from __future__ import annotations

from typing import Any

import keras

from cnnrun.config.lint import warmup_epochs
from cnnrun.config.schema import Config
from cnnrun.config.shapes import output_activation
from cnnrun.engine.augment import fit_loss
from cnnrun.engine.layers import apply_layers


def build_model(
    config: Config, compile: bool = True, steps_per_epoch: int = 1, precision: str = "float32"
) -> keras.Model:
    """Build (and by default compile) the network a resolved config describes.

    Args:
        config: a resolved config (`model.input_shape` filled in by `make_plan`).
        compile: attach the optimizer, loss and metrics; prediction does not need them.
        steps_per_epoch: training steps in an epoch, for learning-rate schedules.
        precision: the Keras dtype policy of the layers (`float32`, `mixed_bfloat16`,
            `mixed_float16`); the output layer computes in float32 whatever it is. Set on
            each layer, not as Keras's global policy, so models in one process do not share
            it. Prediction and export build in float32.
    """
    if config.model.input_shape is None:
        raise ValueError("model.input_shape must be resolved before building")
    layers = config.model.layers
    inputs = keras.Input(shape=tuple(config.model.input_shape), name="input")
    output_from = max(i for i, e in enumerate(layers) if not e.spec.passthrough or i == 0)
    outputs = apply_layers(layers, inputs, dtype=precision, output_from=output_from)
    model = keras.Model(inputs, outputs, name=config.name or "cnnrun")
    if compile:
        compile_model(model, config, steps_per_epoch, precision)
    return model


def compile_model(
    model: keras.Model,
    config: Config,
    steps_per_epoch: int = 1,
    precision: str = "float32",
    rate: float | None = None,
) -> None:
    """Attach a fresh optimizer (at learning rate `rate`, or the config's), the loss and the
    metrics: at the start, and again at each of `train.phases`."""
    t = config.train
    optimizer = make_optimizer(config, steps_per_epoch, rate)
    if precision == "mixed_float16":  # float16 gradients underflow without loss scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=make_loss(config),
        metrics=make_metrics(config),
        jit_compile=t.jit_compile,
        steps_per_execution=t.steps_per_execution,
    )


def from_logits(config: Config) -> bool:
    """True when the last layer is linear, so the loss must apply softmax/sigmoid itself."""
    return output_activation(config.model.layers) == "linear"


def learning_rate(config: Config, steps_per_epoch: int) -> Any:
    """The optimizer's learning rate: a number, or a per-step schedule of Keras's own.

    A schedule is a function of the optimizer's step counter, which `last.weights.h5` keeps,
    so a resumed run continues it where it stopped.
    """
    lr, s, epochs = (
        config.train.optimizer.learning_rate,
        config.train.lr_schedule,
        config.train.epochs,
    )
    schedules = keras.optimizers.schedules
    match s and s.name:
        case "cosine":
            warm = warmup_epochs(s.warmup_epochs, epochs)
            warmup = warm * steps_per_epoch
            return schedules.CosineDecay(
                0.0 if warmup else lr,
                decay_steps=max(1, (epochs - warm) * steps_per_epoch),
                alpha=s.min_lr / lr,
                warmup_target=lr if warmup else None,
                warmup_steps=warmup,
            )
        case "exponential":
            return schedules.ExponentialDecay(lr, steps_per_epoch, s.decay_rate)
        case "step":
            bounds = list(range(s.step_epochs, epochs, s.step_epochs))
            values = [lr * s.factor**k for k in range(len(bounds) + 1)]
            # a boundary is the last step at the old rate: the epoch's first step has the new one
            edges = [b * steps_per_epoch - 1 for b in bounds]
            return schedules.PiecewiseConstantDecay(edges, values)
    return lr  # none, or reduce_on_plateau (a callback, which needs a plain variable)


def make_optimizer(
    config: Config, steps_per_epoch: int = 1, rate: float | None = None
) -> keras.optimizers.Optimizer:
    """The configured optimizer, with its learning-rate schedule and gradient clipping;
    `rate` (a phase's) replaces the learning rate."""
    o = config.train.optimizer
    lr = learning_rate(config, steps_per_epoch) if rate is None else rate
    kwargs: dict[str, Any] = {"learning_rate": lr}
    if o.weight_decay is not None:
        kwargs["weight_decay"] = o.weight_decay
    if o.momentum is not None:
        kwargs["momentum"] = o.momentum
    if o.nesterov:
        kwargs["nesterov"] = True
    if o.clipnorm is not None:
        kwargs["clipnorm"] = o.clipnorm
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
        "adagrad": keras.optimizers.Adagrad,
    }
    return classes[o.name](**kwargs)


class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against smoothed one-hot targets, per sample.

    Keras 3's `SparseCategoricalCrossentropy` has no `label_smoothing`; this is
    `CategoricalCrossentropy(label_smoothing=smoothing)` of the one-hot labels.

    Args:
        smoothing: the true class's target is 1 - smoothing + smoothing / classes.
        from_logits: the predictions are logits, not probabilities.
    """

    def __init__(self, smoothing: float, from_logits: bool = False) -> None:
        super().__init__(name="sparse_categorical_crossentropy")
        self.smoothing, self.from_logits = smoothing, from_logits

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        onehot = keras.ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            onehot, y_pred, from_logits=self.from_logits, label_smoothing=self.smoothing
        )


def make_loss(config: Config) -> keras.losses.Loss:
    logits, smoothing = from_logits(config), config.train.label_smoothing
    match fit_loss(config):
        case "sparse_categorical_crossentropy" if smoothing:
            return SparseSmoothedCrossentropy(smoothing, logits)
        case "sparse_categorical_crossentropy":
            return keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
        case "categorical_crossentropy":
            return keras.losses.CategoricalCrossentropy(
                from_logits=logits, label_smoothing=smoothing
            )
        case _:
            return keras.losses.BinaryCrossentropy(from_logits=logits, label_smoothing=smoothing)


def make_metrics(config: Config) -> list[keras.metrics.Metric]:
    out = []
    for name in config.train.metrics:
        if name == "accuracy":
            match fit_loss(config):
                case "sparse_categorical_crossentropy":
                    out.append(keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
                case "categorical_crossentropy":
                    out.append(keras.metrics.CategoricalAccuracy(name="accuracy"))
                case _:  # a logit of 0 is a probability of 0.5
                    threshold = 0.0 if from_logits(config) else 0.5
                    out.append(keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold))
    return out
