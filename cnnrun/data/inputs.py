"""What `predict` reads: image files and folders, arrays, HDF5 files and built-in splits.

Each format is read by the same reader training uses (`arrays`, `hdf5`, `images`), with the
same checks. Everything comes out in the model's terms: images of its input shape (resized
and converted the way training converted them), a pixel scale to [0, 1], names for the
output rows, and, where the input carries them, labels as indices into the model's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.config.schema import MAX_IMAGE_PIXELS, DataConfig
from cnnrun.data.arrays import read_arrays
from cnnrun.data.hdf5 import open_hdf5
from cnnrun.data.images import IMAGE_EXTENSIONS, Decode, ImageFiles
from cnnrun.data.lazy import LazyImages, subset
from cnnrun.data.photos import class_folders, image_files
from cnnrun.data.preflight import bad_files_error, survey
from cnnrun.data.sources import load_dataset
from cnnrun.errors import Problem, UserError
from cnnrun.paths import kind_of

BUILTIN_SPLITS = {"digits": ("test", "train"), "mnist5k": ("test", "train")}
Shape = tuple[int, int, int]


@dataclass
class Inputs:
    """Inputs ready for a model.

    Args:
        x: images, NHWC in the model's input shape (an array, or a lazy source read in
            batches: HDF5, or image files decoded as training decoded them).
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


@dataclass(frozen=True)
class Model:
    """What predict knows of the model the inputs are for, and the image size limit."""

    shape: Shape
    class_names: list[str]
    trained_scale: float
    max_pixels: int = MAX_IMAGE_PIXELS
    image_scale: float = 1 / 255
    resize: str = "stretch"
    interpolation: str = "bilinear"
    decoder: str = "tensorflow"


def _bad(message: str, file: str, hint: str = "") -> UserError:
    return UserError(Problem(message, file=file, hint=hint))


def _check_shape(x: Any, model: Model, file: str) -> None:
    h, w, c = model.shape
    if tuple(x.shape[1:]) != (h, w, c):
        raise _bad(
            f"holds images of shape {tuple(x.shape)}; the model expects (N, {h}, {w}, {c})"
            + (" or (N, h, w) for grey images" if c == 1 else ""),
            file,
        )


def _with_labels(inputs: Inputs, labels: np.ndarray | list, model: Model, origin: str) -> Inputs:
    """Labels (indices into the model's classes, or class names) for `inputs`.

    Inputs whose class the model does not know are dropped, and the note says how many.
    """
    labels = np.asarray(labels)
    k = len(model.class_names)
    if np.issubdtype(labels.dtype, np.integer):
        if len(labels) and (labels.min() < 0 or labels.max() >= k):
            raise _bad(
                f"labels run from {labels.min()} to {labels.max()}; the model has {k} classes",
                origin,
            )
        inputs.y = labels.astype(np.int64)
        return inputs
    lookup = {name: i for i, name in enumerate(model.class_names)}
    text = [str(v) for v in labels.tolist()]
    keep = np.array([t in lookup for t in text], dtype=bool)
    if not keep.any():
        raise _bad(
            f"none of its classes ({', '.join(sorted(set(text))[:8])}) is one the model knows "
            f"({', '.join(model.class_names[:8])})",
            origin,
        )
    rows = np.flatnonzero(keep)
    # a lazy source stays lazy: a folder of photos is never decoded whole here
    inputs.x = subset(inputs.x, rows) if isinstance(inputs.x, LazyImages) else inputs.x[rows]
    inputs.names = [n for n, k_ in zip(inputs.names, keep, strict=True) if k_]
    inputs.y = np.array([lookup[t] for t, k_ in zip(text, keep, strict=True) if k_], dtype=np.int64)
    if not keep.all():
        dropped = (
            f"kept {int(keep.sum())} of {len(text)} inputs: the others are of classes the model "
            "was not trained on"
        )
        inputs.note = "; ".join(s for s in (inputs.note, dropped) if s)
    return inputs


def _scale(x: Any, model: Model) -> float:
    # Arrays are taken to be in the training data's own units (0..16 for the digits, 0..255
    # for uint8 images); floats are used as they are, as in training.
    return 1.0 if np.issubdtype(x.dtype, np.floating) else model.trained_scale


def _builtin(spec: str, model: Model) -> Inputs:
    name, _, split = spec.partition(":")
    if name not in BUILTIN_SPLITS or split not in BUILTIN_SPLITS[name]:
        valid = ", ".join(f"{n}:{s}" for n, ss in BUILTIN_SPLITS.items() for s in ss)
        raise _bad(f"unknown built-in split; expected one of {valid}", spec)
    ds, _ = load_dataset(DataConfig(source=name), Path("."))
    x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x, ds.y)
    _check_shape(x, model, spec)
    inputs = Inputs(x, ds.scale, [f"{spec}[{i}]" for i in range(len(x))])
    return _with_labels(inputs, [ds.class_names[i] for i in y], model, spec)


def _arrays(path: Path, model: Model, x_name: str, y_name: str) -> Inputs:
    a = read_arrays(path, require_labels=False)
    _check_shape(a.x, model, str(path))
    inputs = Inputs(a.x, _scale(a.x, model), [str(i) for i in range(len(a.x))])
    return inputs if a.y is None else _with_labels(inputs, a.y, model, str(path))


def _hdf5(path: Path, model: Model, x_name: str, y_name: str) -> Inputs:
    x, y = open_hdf5(path, x_name, y_name, require_y=False, locs=((), ()))
    _check_shape(x, model, str(path))
    inputs = Inputs(x, _scale(x, model), [str(i) for i in range(len(x))])
    return inputs if y is None else _with_labels(inputs, y, model, str(path))


def _images(files: list[Path], labels: list[str] | None, model: Model, skip_bad: bool) -> Inputs:
    """Image files, checked first, then decoded a batch at a time as training decoded them."""
    h, w, c = model.shape
    paths = [str(f) for f in files]
    bad, meta = survey(paths, model.max_pixels)
    if bad and not skip_bad:
        where = str(files[0].parent) if len(files) > 1 else str(files[0])
        hint = "use --skip-bad to leave undecodable images out"
        limit = "resize them, or raise the limit (--max-image-pixels)"
        raise bad_files_error(bad, where, len(paths), hint, limit)
    gone = {p for p, _ in bad}
    kept = [i for i, p in enumerate(paths) if p not in gone]
    if not kept:
        raise _bad("no image could be read", str(files[0].parent))
    spec = Decode((h, w), c, model.resize, model.interpolation, model.max_pixels, model.decoder)
    x = ImageFiles([paths[i] for i in kept], spec, meta=meta[kept])
    note = f"skipped {len(bad)} undecodable image(s)" if bad else ""
    inputs = Inputs(x, model.image_scale, [paths[i] for i in kept], skipped=bad, note=note)
    if labels is None:
        return inputs
    return _with_labels(inputs, [labels[i] for i in kept], model, str(files[0].parent.parent))


def _folder(folder: Path, model: Model, skip_bad: bool) -> Inputs:
    """A folder of class sub-folders (labelled, when the model knows a class) or of images."""
    top = [f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
    files, labels, classes = class_folders(folder)
    if files and not top and any(c in model.class_names for c in classes):
        return _images(files, labels, model, skip_bad)
    files = image_files(folder)
    if not files:
        raise _bad(
            "holds no PNG/JPEG images",
            str(folder),
            hint="predict reads .png, .jpg, .jpeg, .bmp and .gif files",
        )
    return _images(files, None, model, skip_bad)


def from_array(x: Any, input_shape: Shape, trained_scale: float) -> Inputs:
    """A NumPy batch of images (N, height, width[, channels]) as inputs, checked like an
    `.npy` file: integer pixels in the training data's units, float ones used as they are.

    Example:
        >>> inputs = from_array(np.zeros((2, 8, 8), np.uint8), (8, 8, 1), 1 / 16)
        >>> inputs.x.shape, inputs.names, inputs.scale
        ((2, 8, 8, 1), ['0', '1'], 0.0625)
    """
    from cnnrun.data.arrays import images_nhwc

    x = images_nhwc(np.asarray(x), "the array", "inputs")
    model = Model(tuple(input_shape), [], trained_scale)  # type: ignore[arg-type]
    _check_shape(x, model, "inputs")
    return Inputs(x, _scale(x, model), [str(i) for i in range(len(x))])


READERS = {".npz": _arrays, ".npy": _arrays, ".h5": _hdf5, ".hdf5": _hdf5}


def _files(paths: list[Path]) -> list[Path]:
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
    return paths


def read_inputs(
    items: list[str],
    input_shape: Shape,
    class_names: list[str],
    trained_scale: float,
    skip_bad: bool = False,
    x_dataset: str = "x",
    y_dataset: str = "y",
    max_pixels: int = MAX_IMAGE_PIXELS,
    image_scale: float = 1 / 255,
    resize: str = "stretch",
    interpolation: str = "bilinear",
    decoder: str = "tensorflow",
) -> Inputs:
    """Read predict's INPUT arguments into one `Inputs`.

    Args:
        items: image files; or one folder, `.npz`, `.npy`, `.h5`/`.hdf5` or `name:split`.
        input_shape: the model's `(height, width, channels)`.
        class_names: the model's classes, to match folder names and text labels.
        trained_scale: the pixel scale training used, for arrays in the same units.
        skip_bad: leave undecodable images out instead of stopping.
        x_dataset, y_dataset: dataset names in an HDF5 input.
        max_pixels: image files larger than this are refused before decoding.
        image_scale: multiplies the 0..255 pixels of image files.
        resize, interpolation, decoder: how training decoded image files and fitted them to
            the input size (its config's `data.resize`, `data.interpolation` and
            `data.decoder`), so predict sees what it saw.

    Raises:
        UserError: a missing or unreadable input, or data of the wrong shape.
    """
    model = Model(
        tuple(input_shape),  # type: ignore[arg-type]
        list(class_names),
        trained_scale,
        max_pixels,
        image_scale,
        resize,
        interpolation,
        decoder,
    )
    if not items:
        raise UserError(
            Problem(
                "no INPUT given",
                hint="pass image files, a folder, an .npz, an .h5 file or a split like digits:test",
            )
        )
    if len(items) == 1 and ":" in items[0] and not Path(items[0]).exists():
        return _builtin(items[0], model)
    paths = [Path(i) for i in items]
    for p in paths:
        kind = kind_of(p)
        if kind == "missing":
            raise _bad("no such file or folder", str(p))
        if kind not in ("a file", "a folder"):
            raise _bad(f"is {kind}, expected an image, an array or HDF5 file, or a folder", str(p))
    single = paths[0] if len(paths) == 1 else None
    if single is not None and single.is_file() and single.suffix.lower() in READERS:
        return READERS[single.suffix.lower()](single, model, x_dataset, y_dataset)
    if single is not None and single.is_dir():
        return _folder(single, model, skip_bad)
    return _images(_files(paths), None, model, skip_bad)
