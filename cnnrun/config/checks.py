"""A validated config's checks across fields: a source and its path, the monitor and the
metrics, the optimizer and its arguments, the warm-up and the epochs, the extras installed.

Example:
    >>> from cnnrun.config.schema import Config
    >>> cfg = Config.model_validate({"data": {"source": "npz"}, "model": {"layers": ["flatten"]}})
    >>> [p.message for p in cross_field_problems(cfg)]
    ["source 'npz' needs a path"]
"""

from __future__ import annotations

import importlib.util

from cnnrun.config.schema import Config, DataConfig
from cnnrun.errors import Problem, suggest


def cross_field_problems(cfg: Config) -> list[Problem]:
    """What the schema alone cannot express: checks across fields, and installed extras."""
    return [*_data_checks(cfg.data), *_image_checks(cfg.data), *_train_checks(cfg)]


PHOTO_SOURCES = ("images", "csv")  # image files: a folder of class folders, or a manifest


def _image_checks(d: DataConfig) -> list[Problem]:
    out = []
    for key in ("image_size", "channels"):
        if d.source not in PHOTO_SOURCES and getattr(d, key) is not None:
            out.append(Problem(f"data.{key} is for source: images or csv only", ("data", key)))
    if d.interpolation == "hamming" and d.decoder == "tensorflow":
        out.append(
            Problem(
                "interpolation 'hamming' is Pillow's alone; TensorFlow's resize has no such filter",
                ("data", "interpolation"),
                hint="set data.decoder: pillow, or pick bilinear, bicubic, lanczos, box or nearest",
            )
        )
    return out


def _data_checks(d: DataConfig) -> list[Problem]:
    out = []
    if d.source in ("npz", "hdf5", *PHOTO_SOURCES) and not d.path:
        out.append(
            Problem(f"source '{d.source}' needs a path", ("data", "source"), hint="add data.path")
        )
    if d.source in ("digits", "mnist5k", "keras") and d.path:
        out.append(
            Problem(
                f"source '{d.source}' takes no path",
                ("data", "path"),
                hint="remove data.path, or use source: npz, hdf5, images or csv",
            )
        )
    if d.source == "keras" and not d.dataset:
        out.append(
            Problem(
                "source 'keras' needs a dataset",
                ("data", "source"),
                hint="add data.dataset: mnist, fashion_mnist, cifar10 or cifar100",
            )
        )
    if d.source != "keras" and d.dataset:
        out.append(Problem("data.dataset is for source: keras only", ("data", "dataset")))
    if d.test_split and d.test_split + d.validation_split >= 1:
        out.append(
            Problem(
                f"validation_split + test_split must leave data to train on, got "
                f"{d.validation_split} + {d.test_split}",
                ("data", "test_split"),
            )
        )
    if d.classes is not None and len(set(map(str, d.classes))) != len(d.classes):
        out.append(Problem("data.classes lists a class twice", ("data", "classes")))
    if d.classes is not None and len(d.classes) < 2:
        out.append(Problem("data.classes needs at least 2 classes", ("data", "classes")))
    return out


def _train_checks(cfg: Config) -> list[Problem]:
    out = []
    metrics = cfg.train.metrics
    valid = ["loss", "val_loss", *metrics, *(f"val_{m}" for m in metrics)]
    if cfg.checkpoint.monitor not in valid:
        out.append(
            Problem(
                f"cannot monitor '{cfg.checkpoint.monitor}'; expected one of {', '.join(valid)}",
                ("checkpoint", "monitor"),
                hint=suggest(cfg.checkpoint.monitor, valid),
            )
        )
    if cfg.logging.tensorboard and importlib.util.find_spec("tensorboard") is None:
        out.append(
            Problem(
                "logging.tensorboard needs the tensorboard package, which is not installed",
                ("logging", "tensorboard"),
                hint="pip install 'cnnrun[tensorboard]'",
            )
        )
    return out + _optimizer_checks(cfg)


def _optimizer_checks(cfg: Config) -> list[Problem]:
    out = []
    opt = cfg.train.optimizer
    if opt.momentum is not None and opt.name not in ("sgd", "rmsprop"):
        out.append(
            Problem(
                f"momentum applies to sgd and rmsprop, not {opt.name}",
                ("train", "optimizer", "momentum"),
            )
        )
    if opt.nesterov and opt.name != "sgd":
        out.append(
            Problem(
                f"nesterov applies to sgd, not {opt.name}",
                ("train", "optimizer", "nesterov"),
                hint="use name: nadam for Adam with Nesterov momentum",
            )
        )
    if cfg.train.precision == "mixed_float16" and cfg.distribute == "multi_worker":
        out.append(
            Problem(
                "multi_worker training has no loss scaling, which float16 needs",
                ("train", "precision"),
                hint="use mixed_bfloat16 or float32",
            )
        )
    return out
