"""Arrays in `.npz` and `.npy` files, and the checks every reader applies to images and labels.

One reader for training and predict: `read_arrays` opens the file and checks what it holds
once; `images_nhwc` and `labels_of` are the checks the HDF5 and image readers share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnrun.errors import Problem, UserError


def _err(message: str, file: str, hint: str = "") -> UserError:
    return UserError(Problem(message, file=file, hint=hint))


def images_nhwc(x: np.ndarray, what: str, file: str) -> np.ndarray:
    """Images as (N, height, width, channels); grey (N, height, width) gets a channel axis.

    Only real numbers are pixels: complex, boolean, text and object arrays are refused.
    """
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise _err(
            f"{what} holds {x.dtype} values; expected integer or floating-point pixels",
            file,
            hint="save real-valued images (e.g. uint8 0..255 or float32 0..1)",
        )
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise _err(
            f"{what} has shape {x.shape}; expected (N, height, width) or "
            f"(N, height, width, channels) with 1, 3 or 4 channels",
            file,
            hint="reshape flat vectors to images before saving",
        )
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise _err(f"{what} contains NaN or infinite values", file)
    return x


def labels_of(y: np.ndarray, n: int, what: str, file: str) -> np.ndarray:
    """One label per image: (N,), (N, 1) or one-hot (N, K) become (N,).

    Labels are integers, class names (text, or bytes as HDF5 stores words, read as UTF-8),
    or whole numbers stored as floats; NaN, infinite and fractional labels are refused.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    if y.ndim != 1 or len(y) != n:
        raise _err(f"{what} has shape {y.shape}; expected one label per image ({n})", file)
    if y.dtype.kind == "S" or y.dtype == object:
        try:
            y = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in y.tolist()])
        except UnicodeDecodeError:
            raise _err(f"{what} holds bytes that are not UTF-8 text", file) from None
    if y.dtype.kind == "c" or y.dtype.kind == "b":
        raise _err(f"{what} holds {y.dtype} values; expected class numbers or names", file)
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _err(
                f"{what} holds {bad.sum()} label(s) that are not whole numbers, the first "
                f"{float(y[i])} at index {i}; expected class numbers or names",
                file,
            )
        y = y.astype(np.int64)
    return y


@dataclass
class Arrays:
    """What an array file holds: images, and where present labels, class names, a test split."""

    x: np.ndarray
    y: np.ndarray | None = None
    class_names: list[str] | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def read_arrays(path: Path, require_labels: bool) -> Arrays:
    """Read an `.npz` (x, and y, class_names, x_test, y_test when present) or an `.npy` (x).

    Raises:
        UserError: unreadable, no `x` (or no `y` when required), arrays that are not images,
            labels that do not match them.
    """
    file = str(path)
    try:
        if path.suffix.lower() == ".npy":
            arrays = {"x": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as d:
                arrays = {k: d[k] for k in d.files}
    except (OSError, ValueError) as e:
        raise _err(f"cannot read as {path.suffix}: {e}", file) from None
    missing = [k for k in ("x", "y") if k not in arrays and (k == "x" or require_labels)]
    if missing:
        raise _err(
            f"has no array named {' or '.join(missing)}; it holds: "
            f"{', '.join(arrays) or 'nothing'}",
            file,
            hint="save with np.savez(path, x=images, y=labels)",
        )
    x = images_nhwc(arrays["x"], "x", file)
    y = labels_of(np.asarray(arrays["y"]), len(x), "y", file) if "y" in arrays else None
    names = [str(n) for n in arrays["class_names"].tolist()] if "class_names" in arrays else None
    out = Arrays(x, y, names)
    if "x_test" in arrays or "y_test" in arrays:
        if "x_test" not in arrays or "y_test" not in arrays:
            raise _err("has only one of x_test and y_test; expected both or neither", file)
        out.x_test = images_nhwc(arrays["x_test"], "x_test", file)
        out.y_test = labels_of(arrays["y_test"], len(out.x_test), "y_test", file)
        if out.x_test.shape[1:] != x.shape[1:]:
            raise _err(f"x_test images are {out.x_test.shape[1:]}, x images {x.shape[1:]}", file)
    return out
