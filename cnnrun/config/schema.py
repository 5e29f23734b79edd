"""The experiment config: pydantic models of the YAML file, with a beginner's default everywhere.

A small config needs only `data.source` and `model.layers`; everything else has a default, and
the resolved config (every default filled in) is what a run records. The layer kinds live in
`cnnrun.config.layers`, one module per family; loading, line numbers and error
messages in `cnnrun.config.load`; `--set` overrides in `cnnrun.config.overrides`.

Example:
    >>> cfg = Config.model_validate({"data": {"source": "digits"},
    ...                              "model": {"layers": ["flatten", {"dense": {"units": 10,
    ...                              "activation": "softmax"}}]}})
    >>> cfg.train.epochs
    10
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator
from pydantic.json_schema import models_json_schema

from cnnrun.config.augment import AugmentConfig
from cnnrun.config.fields import NonNegFloat, NonNegInt, Pair, PositiveInt, Section, number
from cnnrun.config.layers import REGISTRY, LayerEntry, layer_schemas, mark_to_ref
from cnnrun.config.phases import Phase, settle
from cnnrun.config.schedules import LRSchedule
from cnnrun.config.search_space import SearchConfig
from cnnrun.urls import scrubbed

# An image file larger than this is refused before it is decoded: far above any input a CNN
# of this tool's scale resizes from, far below what a small "decompression bomb" file can
# claim. `data.max_image_pixels` (training) and `predict --max-image-pixels` change it;
# Pillow itself refuses images above twice its own MAX_IMAGE_PIXELS (about 179 million).
MAX_IMAGE_PIXELS = 25_000_000

# Far above the networks of this tool's scale (a ResNet-50 has 25 million), and a typo
# such as `filters: 1000000000000` is refused by `validate` instead of exhausting memory in
# TensorFlow. `model.max_params` changes it.
MAX_PARAMS = 1_000_000_000
# What one layer may output per image: TensorFlow's kernels index tensors with 32-bit ints.
MAX_LAYER_OUTPUT = 2**31 - 1

# ---- sections ---------------------------------------------------------------------------------

# `none`: no data yet, as in a config `cnnrun import` wrote without `--data`; validate and
# train ask for it, predict and export do not need it.
DataSource = Literal["digits", "mnist5k", "npz", "hdf5", "images", "csv", "keras", "none"]
# Decoded pixels `data.cache: auto` keeps in memory; above it, images stream from their files.
# A fixed number, not a share of this machine's memory: a run caches the same way everywhere.
AUTO_CACHE_BYTES = 512 * 2**20


class DataConfig(Section):
    source: DataSource
    path: str | None = Field(
        None,
        description="npz/hdf5 file, images folder or csv manifest; relative paths start at the "
        "config's folder",
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
    max_image_pixels: PositiveInt = Field(
        MAX_IMAGE_PIXELS,
        description="images: larger files are refused before decoding (decompression bombs)",
    )
    resize: Literal["stretch", "crop", "pad"] = Field(
        "stretch",
        description="images: fit another aspect ratio by stretching, a centred crop, or black bars",
    )
    interpolation: Literal["bilinear", "nearest", "bicubic", "lanczos", "box", "hamming"] = Field(
        "bilinear", description="images: the resampling filter (antialiased when shrinking)"
    )
    decoder: Literal["tensorflow", "pillow"] = Field(
        "tensorflow",
        description="images: TensorFlow's ops, in the input pipeline's threads (the default), "
        "or Pillow (runs from before it existed; hamming interpolation)",
    )
    cache: Literal["auto", "none", "memory", "disk"] = Field(
        "auto",
        description="images: keep decoded pixels in memory, in a file, or decode every epoch; "
        "auto: memory up to 512 MiB of pixels, else none",
    )
    cache_path: str | None = Field(
        None, description="images, cache: disk: the cache folder; default RUNS_DIR/.cache"
    )
    on_bad_image: Literal["error", "skip"] = Field(
        "error",
        description="images: a truncated, empty or non-image file stops the run (error) or is "
        "left out and listed in summary.json (skip)",
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
    max_params: PositiveInt = Field(
        MAX_PARAMS, description="a network with more parameters is refused before it is built"
    )


class OptimizerConfig(Section):
    name: Literal["adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad"] = "adam"
    learning_rate: number(gt=0) = 0.001
    momentum: number(ge=0, lt=1) | None = Field(None, description="sgd and rmsprop only")
    nesterov: StrictBool = Field(False, description="sgd only: Nesterov momentum")
    weight_decay: NonNegFloat | None = None
    clipnorm: number(gt=0) | None = Field(
        None, description="clip each weight's gradient to this L2 norm"
    )


Loss = Literal["sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"]


class TrainConfig(Section):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    optimizer: OptimizerConfig = OptimizerConfig()
    loss: Loss = "sparse_categorical_crossentropy"
    metrics: list[Literal["accuracy"]] = ["accuracy"]
    lr_schedule: LRSchedule | None = None
    label_smoothing: number(ge=0, lt=1) = Field(
        0.0, description="the target puts 1 - this on the true class, the rest spread evenly"
    )
    class_weight: Literal["balanced"] | dict[StrictInt | str, number(gt=0)] | None = Field(
        None,
        description="balanced: n / (classes x count) per class over the training split; or "
        "{class: weight} by class name or label number (unlisted classes weigh 1)",
    )
    jit_compile: StrictBool = Field(False, description="XLA; slower on CPU, try it on a GPU")
    steps_per_execution: PositiveInt = Field(
        1, description="batches per compiled call: no gain measured on CPU; try 8-64 on a GPU"
    )
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = Field(
        "auto",
        description="auto: mixed_float16 on a CUDA GPU of compute capability 7.0+, "
        "mixed_bfloat16 on a CPU with AMX-BF16, float32 otherwise (docs/precision.md)",
    )
    batchnorm_stats: Literal["moving", "precise"] = Field(
        "precise",
        description="precise: population statistics recomputed at test-time conditions "
        "before each validation (the default, by measurement: docs/batchnorm.md); moving: "
        "Keras's moving averages",
    )
    batchnorm_batches: PositiveInt = Field(
        16, description="precise: training batches in the seeded sample the statistics use"
    )
    phases: list[Phase] | None = Field(
        None,
        description="fine-tuning in phases, e.g. [{epochs: 5, trainable: head}, {epochs: 10, "
        "trainable: all, learning_rate: 1e-5}]; train.epochs is then their total, or a cap",
    )

    augment: AugmentConfig | None = Field(
        None, description="MixUp and CutMix, which mix labels too: {mixup: {alpha: 0.2}}"
    )

    @model_validator(mode="after")
    def _phases(self) -> TrainConfig:
        return settle(self)


class CheckpointConfig(Section):
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"

    @property
    def resolved_mode(self) -> Literal["min", "max"]:
        if self.mode != "auto":
            return self.mode
        return "min" if "loss" in self.monitor else "max"


class EarlyStoppingConfig(Section):
    patience: NonNegInt = 5
    min_delta: NonNegFloat = 0.0


class MlflowConfig(Section):
    """Where `logging.mlflow` logs; `mlflow: true` takes these defaults."""

    tracking_uri: str | None = Field(
        None,
        description="any MLflow tracking URI (http://host:5000, sqlite:///path.db); "
        "default: sqlite:///<runs-dir>/mlflow.db, artifacts beside it",
    )
    experiment: str = Field("cnnrun", min_length=1, description="the MLflow experiment's name")


class LoggingConfig(Section):
    tensorboard: StrictBool = False
    mlflow: StrictBool | MlflowConfig = Field(
        False, description="true or {tracking_uri, experiment}: log the run to MLflow"
    )

    @property
    def mlflow_config(self) -> MlflowConfig | None:
        """The MLflow settings, or None when the run is not tracked."""
        if isinstance(self.mlflow, MlflowConfig):
            return self.mlflow
        return MlflowConfig() if self.mlflow else None


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
    search: SearchConfig | None = None

    def resolved(self) -> dict:
        """The config as plain data with every default filled in: what a run records (its
        config.yaml, weights file, summary, MLflow parameters), so a password given in a
        URL (`logging.mlflow.tracking_uri`) is left out (`cnnrun.urls`)."""
        return scrubbed(self.model_dump(mode="json"))


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the config file, for editors and CI linting.

    Every layer kind in the registry appears in each form the YAML may take (`conv2d: {...}`,
    `dropout: 0.25`, `- flatten`), and every bound as a standard keyword.
    """
    models = [(Config, "validation"), *((k.args, "validation") for k in REGISTRY.values())]
    _, top = models_json_schema(models, ref_template="#/$defs/{model}")
    defs = mark_to_ref(top["$defs"])
    schema = defs.pop("Config")
    defs["Layer"] = layer_schemas(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cnnrun experiment config",
        **schema,
        "$defs": defs,
    }
