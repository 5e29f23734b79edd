"""The experiment config: pydantic models of the YAML file, with a beginner's default everywhere.

A small config needs only `data.source` and `model.layers`; everything else has a default, and
the resolved config (every default filled in) is what a run records. Loading, line numbers and
error messages live in `configfile.py`; `--set` overrides in `overrides.py`.

Example:
    >>> cfg = Config.model_validate({"data": {"source": "digits"},
    ...                              "model": {"layers": [{"flatten": {}}, {"dense": {"units": 10,
    ...                              "activation": "softmax"}}]}})
    >>> cfg.train.epochs
    10
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    WrapValidator,
    model_serializer,
    model_validator,
)

_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _yaml11_number(value: Any) -> Any:
    # YAML 1.1 (PyYAML) reads `1e-3` and `1e6` as strings; a user writing them means numbers.
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return float(value)
    return value


def number(**bounds: float) -> Any:
    """A float field: ints accepted, bools and text refused, `1e-3` read as a number."""
    return Annotated[float, BeforeValidator(_yaml11_number), Field(strict=True, **bounds)]


PositiveInt = Annotated[StrictInt, Field(gt=0)]
NonNegFloat = number(ge=0)
Rate = number(ge=0, lt=1)

Activation = Literal[
    "relu",
    "linear",
    "softmax",
    "sigmoid",
    "tanh",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "leaky_relu",
    "relu6",
    "softplus",
    "mish",
]
Padding = Literal["valid", "same"]
FillMode = Literal["reflect", "wrap", "constant", "nearest"]


def _pair(value: Any, handler: Any, info: ValidationInfo) -> int | tuple[int, int]:
    # Keras takes an int or a pair for sizes; the union's own errors would name both branches,
    # so one message says what is expected.
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v > 0

    if ok(value):
        return value
    if isinstance(value, list | tuple) and len(value) == 2 and all(ok(v) for v in value):
        return (value[0], value[1])
    raise ValueError(f"expected a positive integer or a list of two, got {value!r}")


def _factor(value: Any, handler: Any, info: ValidationInfo) -> float | tuple[float, float]:
    def ok(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and -1 <= v <= 1

    if ok(value):
        return float(value)
    if isinstance(value, list | tuple) and len(value) == 2 and all(ok(v) for v in value):
        if value[0] > value[1]:
            raise ValueError(f"expected [lower, upper] with lower <= upper, got {list(value)}")
        return (float(value[0]), float(value[1]))
    raise ValueError(f"expected a number in [-1, 1] or a list [lower, upper], got {value!r}")


Pair = Annotated[int | tuple[int, int], WrapValidator(_pair)]
Factor = Annotated[float | tuple[float, float], WrapValidator(_factor)]


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# ---- layers: each takes Keras's own argument names --------------------------------------------


class Conv2D(Section):
    filters: PositiveInt
    kernel_size: Pair = 3
    strides: Pair = 1
    padding: Padding = "valid"
    dilation_rate: Pair = 1
    activation: Activation = "relu"
    use_bias: StrictBool = True
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on the kernel")


class MaxPool2D(Section):
    pool_size: Pair = 2
    strides: Pair | None = Field(None, description="defaults to pool_size, as in Keras")
    padding: Padding = "valid"


class AvgPool2D(MaxPool2D):
    pass


class GlobalAvgPool2D(Section):
    pass


class GlobalMaxPool2D(Section):
    pass


class Flatten(Section):
    pass


class Dense(Section):
    units: PositiveInt
    activation: Activation = "relu"
    use_bias: StrictBool = True
    l2: NonNegFloat | None = Field(None, description="L2 weight decay on the kernel")


class Dropout(Section):
    rate: Rate


class SpatialDropout2D(Section):
    rate: Rate


class BatchNorm(Section):
    momentum: number(gt=0, lt=1) = 0.99
    epsilon: number(gt=0) = 0.001
    center: StrictBool = True
    scale: StrictBool = True


class ActivationLayer(Section):
    activation: Activation


class RandomFlip(Section):
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal_and_vertical"


class RandomRotation(Section):
    factor: Factor
    fill_mode: FillMode = "reflect"


class RandomZoom(Section):
    height_factor: Factor
    width_factor: Factor | None = None
    fill_mode: FillMode = "reflect"


class RandomTranslation(Section):
    height_factor: Factor
    width_factor: Factor
    fill_mode: FillMode = "reflect"


LAYER_KINDS: dict[str, type[Section]] = {
    "conv2d": Conv2D,
    "maxpool2d": MaxPool2D,
    "avgpool2d": AvgPool2D,
    "globalavgpool2d": GlobalAvgPool2D,
    "globalmaxpool2d": GlobalMaxPool2D,
    "flatten": Flatten,
    "dense": Dense,
    "dropout": Dropout,
    "spatialdropout2d": SpatialDropout2D,
    "batchnorm": BatchNorm,
    "activation": ActivationLayer,
    "randomflip": RandomFlip,
    "randomrotation": RandomRotation,
    "randomzoom": RandomZoom,
    "randomtranslation": RandomTranslation,
}

# The one argument a bare scalar stands for: `dropout: 0.25` is `dropout: {rate: 0.25}`.
SHORTHAND = {
    "dropout": "rate",
    "spatialdropout2d": "rate",
    "activation": "activation",
    "randomrotation": "factor",
}


class LayerEntry(Section):
    """One layer: a one-key mapping from its kind to its arguments, e.g. `conv2d: {filters: 16}`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"minProperties": 1, "maxProperties": 1},
    )

    conv2d: Conv2D | None = None
    maxpool2d: MaxPool2D | None = None
    avgpool2d: AvgPool2D | None = None
    globalavgpool2d: GlobalAvgPool2D | None = None
    globalmaxpool2d: GlobalMaxPool2D | None = None
    flatten: Flatten | None = None
    dense: Dense | None = None
    dropout: Dropout | None = None
    spatialdropout2d: SpatialDropout2D | None = None
    batchnorm: BatchNorm | None = None
    activation: ActivationLayer | None = None
    randomflip: RandomFlip | None = None
    randomrotation: RandomRotation | None = None
    randomzoom: RandomZoom | None = None
    randomtranslation: RandomTranslation | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, value: Any) -> Any:
        if isinstance(value, str):  # `- flatten` is `- flatten: {}`
            value = {value: {}}
        if not isinstance(value, dict):
            raise ValueError(
                f"expected a one-key mapping like 'conv2d: {{filters: 16}}', got {value!r}"
            )
        if len(value) != 1:
            keys = ", ".join(map(str, value)) or "none"
            raise ValueError(
                f"expected exactly one layer kind per list item, got keys: {keys} "
                "(is a '-' missing, or an argument indented too little?)"
            )
        ((kind, args),) = value.items()
        if args is None:
            args = {}
        elif kind in SHORTHAND and not isinstance(args, dict):
            args = {SHORTHAND[kind]: args}
        return {kind: args}

    @property
    def kind(self) -> str:
        return next(k for k in LAYER_KINDS if getattr(self, k) is not None)

    @property
    def args(self) -> Section:
        return getattr(self, self.kind)

    @model_serializer(mode="wrap")
    def _as_one_key(self, handler: Any) -> dict:
        return {k: v for k, v in handler(self).items() if v is not None}


# ---- sections ---------------------------------------------------------------------------------

DataSource = Literal["digits", "mnist5k", "npz", "hdf5", "images", "keras"]


class DataConfig(Section):
    source: DataSource
    path: str | None = Field(
        None,
        description="npz/hdf5 file or images folder; relative paths start at the config's folder",
    )
    dataset: Literal["mnist", "fashion_mnist", "cifar10", "cifar100"] | None = Field(
        None, description="for source: keras"
    )
    x_dataset: str = Field("x", description="hdf5: name of the images dataset")
    y_dataset: str = Field("y", description="hdf5: name of the labels dataset")
    x_test_dataset: str | None = Field(None, description="hdf5: optional test images dataset")
    y_test_dataset: str | None = Field(None, description="hdf5: optional test labels dataset")
    image_size: Pair | None = Field(
        None, description="images: [height, width] to resize to; default: the first image's"
    )
    channels: Literal[1, 3] | None = Field(
        None, description="images: 1 (grey) or 3 (RGB); default: the first image's"
    )
    validation_split: number(gt=0, lt=1) = 0.2
    test_split: number(gt=0, lt=1) | None = Field(
        None, description="hold out a test set, for sources that have none of their own"
    )
    classes: list[StrictInt | str] | None = Field(
        None, description="keep only these classes (names or label numbers), in this order"
    )


class ModelConfig(Section):
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt] | None = Field(
        None, description="[height, width, channels]; taken from the data when absent"
    )
    layers: Annotated[list[LayerEntry], Field(min_length=1)]


class OptimizerConfig(Section):
    name: Literal["adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad"] = "adam"
    learning_rate: number(gt=0) = 0.001
    momentum: number(ge=0, lt=1) | None = Field(None, description="sgd and rmsprop only")
    weight_decay: NonNegFloat | None = None


class LRSchedule(Section):
    name: Literal["reduce_on_plateau"] = "reduce_on_plateau"
    factor: number(gt=0, lt=1) = 0.5
    patience: Annotated[StrictInt, Field(ge=0)] = 2
    min_lr: NonNegFloat = 0.0


Loss = Literal["sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"]


class TrainConfig(Section):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    optimizer: OptimizerConfig = OptimizerConfig()
    loss: Loss = "sparse_categorical_crossentropy"
    metrics: list[Literal["accuracy"]] = ["accuracy"]
    lr_schedule: LRSchedule | None = None
    jit_compile: StrictBool = Field(False, description="XLA; slower on CPU, try it on a GPU")
    steps_per_execution: PositiveInt = Field(
        1, description="batches per compiled call: no gain measured on CPU; try 8-64 on a GPU"
    )


class CheckpointConfig(Section):
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"

    @property
    def resolved_mode(self) -> Literal["min", "max"]:
        if self.mode != "auto":
            return self.mode
        return "min" if "loss" in self.monitor else "max"


class EarlyStoppingConfig(Section):
    patience: Annotated[StrictInt, Field(ge=0)] = 5
    min_delta: NonNegFloat = 0.0


class LoggingConfig(Section):
    tensorboard: StrictBool = False


RunName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$")]


class SweepConfig(Section):
    """Variants of the experiment for `cnnrun sweep`; `cnnrun train` ignores this section."""

    seeds: PositiveInt = Field(1, description="runs per variant, with seeds seed, seed+1, ...")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="KEY: [values]: every combination of values is a variant (keys as in --set)",
    )
    variants: dict[RunName, dict[str, Any]] = Field(
        default_factory=dict,
        description="NAME: {KEY: value, ...}: named variants (keys as in --set, values any YAML)",
    )


class Config(Section):
    """One experiment: the data, the layer stack, and how to train it."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] | None = Field(
        None, description="the run folder is <timestamp>_<name>; letters, digits, . _ -"
    )
    seed: StrictInt = 42
    deterministic: StrictBool = Field(False, description="op determinism: exact reruns, slower")
    data: DataConfig
    model: ModelConfig
    train: TrainConfig = TrainConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    early_stopping: EarlyStoppingConfig | None = None
    logging: LoggingConfig = LoggingConfig()
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="none: one device; mirrored: every GPU of this machine "
        "(tf.distribute.MirroredStrategy); multi_worker: several machines "
        "(MultiWorkerMirroredStrategy, from TF_CONFIG or cnnrun train --workers)",
    )
    sweep: SweepConfig | None = None

    def resolved(self) -> dict:
        """The config as plain data with every default filled in: what a run records."""
        return self.model_dump(mode="json")


def json_schema() -> dict:
    """The JSON Schema of the config file, for editors and CI linting."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cnnrun experiment config"
    return schema
