"""Data sources for training: built-in sets, npz, photo folders and manifests, HDF5 (streamed).

Each format has one reader (`arrays`, `images`, `hdf5`), shared with predict's inputs; this
module turns what a reader returns into a `Dataset` with labels 0..K-1 and class names. No
TensorFlow here: `validate` uses this to learn the input shape and classes, and the engine's
`pipeline` turns the arrays into `tf.data` pipelines. The `keras` source needs Keras to
download, so its loader lives in the engine; only its fixed shapes are known here.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.config.schema import DataConfig
from cnnrun.data.arrays import read_arrays
from cnnrun.data.dataset import Dataset
from cnnrun.data.hdf5 import open_hdf5
from cnnrun.data.lazy import LazyImages, subset
from cnnrun.data.photos import load_photos
from cnnrun.errors import Problem, UserError
from cnnrun.paths import kind_of, require_dir, require_file

KERAS_SETS = {
    "mnist": ((28, 28, 1), [str(i) for i in range(10)]),
    "fashion_mnist": (
        (28, 28, 1),
        [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
    ),
    "cifar10": (
        (32, 32, 3),
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    ),
    "cifar100": ((32, 32, 3), [str(i) for i in range(100)]),
}


def _err(message: str, loc: tuple = ("data",), hint: str = "", file: str = "") -> UserError:
    return UserError(Problem(message, loc, hint=hint, file=file))


def _resolve(cfg: DataConfig, base_dir: Path) -> Path:
    path = Path(cfg.path or "")
    if not path.is_absolute():
        path = base_dir / path
    kind = kind_of(path)
    if kind == "missing":
        raise _err(
            f"no such file or folder: {path}",
            ("data", "path"),
            hint="relative paths start at the config file's folder",
        )
    if cfg.source == "images":
        return require_dir(path, "a folder of class sub-folders", ("data", "path"))
    suffix = {"npz": "npz", "csv": "csv"}.get(cfg.source, "h5")
    return require_file(path, f"a .{suffix} file", ("data", "path"))


def _encode(y: np.ndarray, names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Labels of any type -> 0..K-1 with names, keeping numeric order for numbers."""
    values = np.unique(y)
    if names is not None and np.issubdtype(y.dtype, np.integer):
        if values.min() < 0 or values.max() >= len(names):
            raise _err(
                f"labels run from {values.min()} to {values.max()} but class_names has "
                f"{len(names)} names"
            )
        return y.astype(np.int64), names
    index = np.searchsorted(values, y)
    return index.astype(np.int64), [str(v) for v in values.tolist()]


def _scale_of(x: Any) -> float:
    if np.issubdtype(x.dtype, np.floating):
        return 1.0
    peak = 255 if x.dtype == np.uint8 else int(np.max(x[: min(len(x), 10000)]))
    return 1.0 / max(255, peak)


def _builtin(name: str) -> Dataset:
    with resources.files("cnnrun.datasets").joinpath(f"{name}.npz").open("rb") as f:
        d = np.load(f)
        arrays = {k: d[k] for k in d.files}
    names = [str(i) for i in range(10)]
    return Dataset(
        arrays["x"],
        arrays["y"].astype(np.int64),
        names,
        1.0 / float(arrays["max_value"]),
        arrays["x_test"],
        arrays["y_test"].astype(np.int64),
        origin=f"built-in {name}",
    )


def _npz(path: Path) -> Dataset:
    a = read_arrays(path, require_labels=True)
    assert a.y is not None
    y, y_test, names = a.y, a.y_test, a.class_names
    if names is None and y_test is not None:
        both, names = _encode(np.concatenate([y, y_test]), None)
        y, y_test = both[: len(y)], both[len(y) :]
    else:
        y, names = _encode(y, names)
        if y_test is not None:
            y_test, _ = _encode(y_test, names)
    return Dataset(a.x, y, names, _scale_of(a.x), a.x_test, y_test, origin=str(path))


def _hdf5(cfg: DataConfig, path: Path) -> Dataset:
    x, y = open_hdf5(path, cfg.x_dataset, cfg.y_dataset)
    assert y is not None
    x_test = y_test = None
    if cfg.x_test_dataset or cfg.y_test_dataset:
        if not (cfg.x_test_dataset and cfg.y_test_dataset):
            raise _err(
                "set both x_test_dataset and y_test_dataset, or neither",
                ("data", "x_test_dataset"),
            )
        locs = (("data", "x_test_dataset"), ("data", "y_test_dataset"))
        x_test, y_test = open_hdf5(path, cfg.x_test_dataset, cfg.y_test_dataset, locs=locs)
    scale = 1.0 if np.issubdtype(x.dtype, np.floating) else 1 / 255
    codes, names = _encode(np.concatenate([y, y_test]) if y_test is not None else y, None)
    y, y_test = codes[: len(y)], (codes[len(y) :] if y_test is not None else None)
    return Dataset(x, y, names, scale, x_test, y_test, origin=str(path))


def load_dataset(cfg: DataConfig, base_dir: Path) -> tuple[Dataset, DataConfig]:
    """Load a source (not `keras`) with its class subset applied.

    Returns:
        The dataset and the data config with inferred values (image size, channels) filled in.

    Raises:
        UserError: missing files, unreadable data, shapes that cannot be images.
    """
    if cfg.source in ("digits", "mnist5k"):
        ds = _builtin(cfg.source)
    elif cfg.source == "npz":
        ds = _npz(_resolve(cfg, base_dir))
    elif cfg.source in ("images", "csv"):
        ds, cfg = load_photos(cfg, _resolve(cfg, base_dir))
    elif cfg.source == "hdf5":
        ds = _hdf5(cfg, _resolve(cfg, base_dir))
    else:
        raise ValueError("the keras source is loaded by cnnrun.data")
    if cfg.path:
        cfg = cfg.model_copy(update={"path": str(_resolve(cfg, base_dir))})
    return select_classes(ds, cfg.classes), cfg


def describe(
    cfg: DataConfig, base_dir: Path
) -> tuple[tuple[int, int, int], list[str], DataConfig, Dataset | None]:
    """Input shape and class names of a source, as cheaply as possible (for `validate`).

    Returns:
        The input shape, the class names, the data config with inferred values filled in,
        and the dataset itself (photo sets: listed and checked, not decoded), so that
        training need not read it a second time.
    """
    if cfg.source == "none":
        raise UserError(
            Problem(
                "no data yet (this config came from `cnnrun import`): set data.source, and "
                "data.path for a file or folder, to the data to train on",
                ("data", "source"),
                hint="e.g. data: {source: npz, path: train.npz}; sources: digits, mnist5k, "
                "npz, hdf5, images, csv, keras (docs/data.md)",
            )
        )
    if cfg.source == "keras":
        shape, names = KERAS_SETS[cfg.dataset or "mnist"]
        if cfg.classes is not None:
            names = select_classes(
                Dataset(np.zeros((0, *shape)), np.arange(len(names)), names, 1.0), cfg.classes
            ).class_names
        return shape, names, cfg, None
    ds, cfg = load_dataset(cfg, base_dir)
    return ds.input_shape, ds.class_names, cfg, ds


def select_classes(ds: Dataset, classes: list[int | str] | None) -> Dataset:
    """Keep only `classes` (names, or label numbers), relabelled 0..k-1 in the order given."""
    if classes is None:
        return ds
    picked = []
    for i, c in enumerate(classes):
        if str(c) in ds.class_names:
            picked.append(ds.class_names.index(str(c)))
        elif isinstance(c, int) and 0 <= c < len(ds.class_names):
            picked.append(c)
        else:
            shown = ", ".join(ds.class_names[:12]) + (" ..." if len(ds.class_names) > 12 else "")
            raise _err(
                f"no class {c!r} in the data; its classes are: {shown}", ("data", "classes", i)
            )
    lookup = np.full(len(ds.class_names), -1)
    lookup[picked] = np.arange(len(picked))

    def keep(x: Any, y: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        if y is None:
            return x, y
        mask = lookup[y] >= 0
        if isinstance(x, LazyImages):
            # A lazy source stays lazy; the split works on indices of the subset.
            return subset(x, np.flatnonzero(mask)), lookup[y[mask]]
        return x[mask], lookup[y[mask]]

    x, y = keep(ds.x, ds.y)
    x_test, y_test = keep(ds.x_test, ds.y_test)
    x_val, y_val = keep(ds.x_val, ds.y_val)
    names = [ds.class_names[i] for i in picked]
    return replace(
        ds, x=x, y=y, x_test=x_test, y_test=y_test, x_val=x_val, y_val=y_val, class_names=names
    )
