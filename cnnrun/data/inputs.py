"""What `predict` reads: image files and folders, arrays, HDF5 files and built-in splits.

Everything comes out in the model's terms: images of its input shape (resized and converted
the way training converted them), a pixel scale to [0, 1], names for the output rows, and,
where the input carries them, labels as indices into the model's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.config.schema import DataConfig
from cnnrun.data.sources import (
    IMAGE_EXTENSIONS,
    H5Images,
    image_files,
    load_dataset,
    read_image,
)
from cnnrun.errors import Problem, UserError

BUILTIN_SPLITS = {"digits": ("test", "train"), "mnist5k": ("test", "train")}


@dataclass
class Inputs:
    """Inputs ready for a model.

    Args:
        x: images, NHWC in the model's input shape (an array, or `H5Images` read in batches).
        scale: multiplies the pixels into [0, 1].
        names: one name per row of the output (a file path, or an index).
        y: labels as indices into the model's classes, or None.
        skipped: `(file, reason)` for files `--skip-bad` left out.
        note: what was left out or assumed, for the user.
    """

    x: Any
    scale: float
    names: list[str]
    y: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""


def _bad(message: str, file: str, hint: str = "") -> UserError:
    return UserError(Problem(message, file=file, hint=hint))


def _labels_to_model(
    labels: list[str], class_names: list[str], origin: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """Class-name labels -> model indices; rows whose class the model lacks are dropped."""
    lookup = {name: i for i, name in enumerate(class_names)}
    keep = np.array([lab in lookup for lab in labels], dtype=bool)
    if not keep.any():
        raise _bad(
            f"none of its classes ({', '.join(sorted(set(labels))[:8])}) is one the "
            f"model knows ({', '.join(class_names[:8])})",
            origin,
        )
    y = np.array([lookup[lab] for lab, k in zip(labels, keep, strict=True) if k], dtype=np.int64)
    note = (
        ""
        if keep.all()
        else (
            f"kept {int(keep.sum())} of {len(labels)} inputs: the others "
            "are of classes the model was not trained on"
        )
    )
    return y, keep, note


def _check_array(x: np.ndarray, shape: tuple[int, int, int], file: str) -> np.ndarray:
    h, w, c = shape
    if x.ndim == 3 and c == 1:
        x = x[..., None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (h, w, c):
        raise _bad(
            f"holds an array of shape {x.shape}; the model expects (N, {h}, {w}, {c})"
            + (" or (N, h, w) for grey images" if c == 1 else ""),
            file,
        )
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise _bad("holds NaN or infinite values", file)
    return x


def _array_scale(x: Any, trained_scale: float) -> float:
    # Arrays are taken to be in the training data's own units (0..16 for the digits, 0..255
    # for uint8 images); floats are used as they are, as in training.
    return 1.0 if np.issubdtype(x.dtype, np.floating) else trained_scale


def _builtin(spec: str, shape: tuple[int, int, int], class_names: list[str]) -> Inputs:
    name, _, split = spec.partition(":")
    if name not in BUILTIN_SPLITS or split not in BUILTIN_SPLITS[name]:
        valid = ", ".join(f"{n}:{s}" for n, ss in BUILTIN_SPLITS.items() for s in ss)
        raise _bad(f"unknown built-in split; expected one of {valid}", spec)
    ds, _ = load_dataset(DataConfig(source=name), Path("."))
    x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x, ds.y)
    x = _check_array(x, shape, spec)
    labels = [ds.class_names[i] for i in y]
    y_model, keep, note = _labels_to_model(labels, class_names, spec)
    names = [f"{spec}[{i}]" for i in np.flatnonzero(keep)]
    return Inputs(x[keep], ds.scale, names, y_model, note=note)


def _arrays(
    path: Path, shape: tuple[int, int, int], trained_scale: float, class_names: list[str]
) -> Inputs:
    file = str(path)
    try:
        if path.suffix == ".npy":
            arrays = {"x": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as d:
                arrays = {k: d[k] for k in d.files}
    except (OSError, ValueError) as e:
        raise _bad(f"cannot read as {path.suffix}: {e}", file) from None
    if "x" not in arrays:
        raise _bad(f"has no array named x; it holds: {', '.join(arrays) or 'nothing'}", file)
    x = _check_array(arrays["x"], shape, file)
    scale = _array_scale(x, trained_scale)
    names = [str(i) for i in range(len(x))]
    if "y" not in arrays:
        return Inputs(x, scale, names)
    y = np.asarray(arrays["y"]).reshape(-1)
    if len(y) != len(x):
        raise _bad(f"has {len(x)} images but {len(y)} labels", file)
    if np.issubdtype(y.dtype, np.integer):
        if y.min() < 0 or y.max() >= len(class_names):
            raise _bad(
                f"labels run from {y.min()} to {y.max()}; the model has {len(class_names)} classes",
                file,
            )
        return Inputs(x, scale, names, y.astype(np.int64))
    y_model, keep, note = _labels_to_model([str(v) for v in y], class_names, file)
    return Inputs(
        x[keep], scale, [n for n, k in zip(names, keep, strict=True) if k], y_model, note=note
    )


def _hdf5(
    path: Path,
    shape: tuple[int, int, int],
    trained_scale: float,
    x_name: str,
    y_name: str,
    n_classes: int,
) -> Inputs:
    import h5py

    file = str(path)
    try:
        with h5py.File(path, "r") as f:
            if x_name not in f or not isinstance(f[x_name], h5py.Dataset):
                have = ", ".join(k for k in f if isinstance(f[k], h5py.Dataset)) or "none"
                raise _bad(
                    f"has no dataset '{x_name}' (datasets: {have})",
                    file,
                    hint="name it with --x-dataset",
                )
            d = f[x_name]
            full = d.shape if d.ndim == 4 else (*d.shape, 1)
            if tuple(full[1:]) != tuple(shape):
                raise _bad(
                    f"dataset '{x_name}' has shape {d.shape}; the model expects "
                    f"(N, {', '.join(map(str, shape))})",
                    file,
                )
            x = H5Images(path, x_name, tuple(full), d.dtype)
            y = np.asarray(f[y_name]).reshape(-1).astype(np.int64) if y_name in f else None
    except OSError as e:
        raise _bad(f"cannot open as HDF5: {e}", file) from None
    if y is not None and len(y) != len(x):
        raise _bad(
            f"has {len(x)} images in '{x_name}' but {len(y)} labels in '{y_name}'",
            file,
            hint="name the labels with --y-dataset",
        )
    if y is not None and len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise _bad(
            f"labels in '{y_name}' run from {y.min()} to {y.max()}; the model has "
            f"{n_classes} classes",
            file,
            hint="name the labels with --y-dataset",
        )
    scale = 1.0 if np.issubdtype(x.dtype, np.floating) else trained_scale
    return Inputs(x, scale, [str(i) for i in range(len(x))], y)


def _images(
    files: list[Path],
    labels: list[str] | None,
    shape: tuple[int, int, int],
    class_names: list[str],
    skip_bad: bool,
    origin: str,
) -> Inputs:
    h, w, c = shape
    arrays, names, kept_labels, skipped = [], [], [], []
    for i, f in enumerate(files):
        try:
            arrays.append(read_image(f, (h, w), c))
        except UserError as e:
            if not skip_bad:
                raise UserError(
                    [
                        *e.problems[:1],
                        Problem("use --skip-bad to leave undecodable images out", file=str(f)),
                    ]
                ) from None
            skipped.append((str(f), e.problems[0].message))
            continue
        names.append(str(f))
        if labels is not None:
            kept_labels.append(labels[i])
    if not arrays:
        raise _bad("no image could be read", origin)
    x = np.stack(arrays)
    note = f"skipped {len(skipped)} undecodable image(s)" if skipped else ""
    if labels is None:
        return Inputs(x, 1 / 255, names, skipped=skipped, note=note)
    y, keep, more = _labels_to_model(kept_labels, class_names, origin)
    return Inputs(
        x[keep],
        1 / 255,
        [n for n, k in zip(names, keep, strict=True) if k],
        y,
        skipped,
        "; ".join(s for s in (note, more) if s),
    )


def read_inputs(
    items: list[str],
    input_shape: tuple[int, int, int],
    class_names: list[str],
    trained_scale: float,
    skip_bad: bool = False,
    x_dataset: str = "x",
    y_dataset: str = "y",
) -> Inputs:
    """Read predict's INPUT arguments into one `Inputs`.

    Args:
        items: image files; or one folder, `.npz`, `.npy`, `.h5`/`.hdf5` or `name:split`.
        input_shape: the model's `(height, width, channels)`.
        class_names: the model's classes, to match folder names and text labels.
        trained_scale: the pixel scale training used, for arrays in the same units.
        skip_bad: leave undecodable images out instead of stopping.
        x_dataset, y_dataset: dataset names in an HDF5 input.

    Raises:
        UserError: a missing or unreadable input, or data of the wrong shape.
    """
    shape = tuple(input_shape)
    if not items:
        raise UserError(
            Problem(
                "no INPUT given",
                hint="pass image files, a folder, an .npz, an .h5 file or a split like digits:test",
            )
        )
    if len(items) == 1 and ":" in items[0] and not Path(items[0]).exists():
        return _builtin(items[0], shape, class_names)
    paths = [Path(i) for i in items]
    for p in paths:
        if not p.exists():
            raise _bad("no such file or folder", str(p))
    if len(paths) == 1 and paths[0].is_file():
        p = paths[0]
        if p.suffix.lower() in (".npz", ".npy"):
            return _arrays(p, shape, trained_scale, class_names)
        if p.suffix.lower() in (".h5", ".hdf5"):
            return _hdf5(p, shape, trained_scale, x_dataset, y_dataset, len(class_names))
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        top = [f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
        if subdirs and not top and any(d.name in class_names for d in subdirs):
            files, labels = [], []
            for d in subdirs:
                found = image_files(d)
                files += found
                labels += [d.name] * len(found)
            if not files:
                raise _bad("holds no PNG/JPEG images", str(folder))
            return _images(files, labels, shape, class_names, skip_bad, str(folder))
        files = image_files(folder)
        if not files:
            raise _bad(
                "holds no PNG/JPEG images",
                str(folder),
                hint="predict reads .png, .jpg, .jpeg, .bmp and .gif files",
            )
        return _images(files, None, shape, class_names, skip_bad, str(folder))
    for p in paths:
        if len(paths) == 1 and p.suffix.lower() not in IMAGE_EXTENSIONS:
            raise _bad(
                "is not an image (.png, .jpg, .jpeg, .bmp, .gif), an array (.npz, .npy) "
                "or an HDF5 file (.h5, .hdf5)",
                str(p),
            )
        if p.is_dir() or p.suffix.lower() not in IMAGE_EXTENSIONS:
            raise _bad(
                "expected image files (.png, .jpg, ...) when several inputs are given; "
                "a folder, array or HDF5 file must be the only input",
                str(p),
            )
    return _images(paths, None, shape, class_names, skip_bad, "inputs")
