"""Weights files that describe themselves: metadata attributes, atomic replacement (h5py only).

Keras's `save_weights` truncates its target before writing, so a kill mid-save destroys the
previous best file. cnnrun lets Keras write a temporary file through `cnnrun.atomic`, adds
the metadata to it, and only then moves it into place.

Example:
    >>> meta = read_metadata("tests/fixtures/v0.1-run/best.weights.h5")
    >>> meta["class_names"][:3], meta["epoch"]
    (['0', '1', '2'], 2)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnnrun.errors import Problem, UserError
from cnnrun.paths import require_file

PREFIX = "cnnrun_"
# Stored as JSON strings so any reader (h5dump, h5py, other languages) sees plain text.
JSON_KEYS = ("config", "class_names", "input_shape", "preprocessing")


def add_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Add cnnrun's metadata to a weights file Keras just wrote (its temporary file).

    Args:
        path: the weights file, not yet in place (see `cnnrun.atomic.atomic_path`).
        metadata: config, class names, input shape, preprocessing, epoch, monitor, value and
            versions; lists and dicts are stored as JSON.
    """
    import h5py

    with h5py.File(path, "a") as f:
        for key, value in metadata.items():
            f.attrs[PREFIX + key] = json.dumps(value) if key in JSON_KEYS else value


def copy_model_weights(source: Path, target: Path) -> None:
    """Copy a weights file without its optimizer state: the model's weights and the metadata.

    The result holds exactly what Keras's `save_weights(model, target,
    objects_to_skip=[model.optimizer])` writes for the same model; copying the groups with
    h5py is much cheaper than a second walk of the model by Keras (benchmarks/RESULTS.md).
    """
    import h5py

    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        for name in src:
            if name != "optimizer":
                src.copy(src[name], dst, name=name)
        dst.attrs.update(src.attrs)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The cnnrun metadata of a weights file, or `{}` for plain Keras weights.

    Raises:
        UserError: the file is missing, not HDF5, truncated, or holds no Keras weights.
    """
    import h5py

    path = Path(path)
    require_file(path, "a weights file (.weights.h5)")
    try:
        with h5py.File(path, "r") as f:
            if "layers" not in f and "vars" not in f:
                raise UserError(
                    Problem(
                        "is an HDF5 file but holds no Keras weights (no 'layers' group)",
                        file=str(path),
                        hint="expected a .weights.h5 from cnnrun or save_weights",
                    )
                )
            attrs = {k.removeprefix(PREFIX): f.attrs[k] for k in f.attrs if k.startswith(PREFIX)}
    except OSError as e:
        raise UserError(
            Problem(f"cannot read as HDF5 (not a weights file, or truncated): {e}", file=str(path))
        ) from None
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if hasattr(value, "item") and getattr(value, "size", 1) == 1:
            value = value.item()
        try:
            if isinstance(value, bytes):
                value = value.decode()
            out[key] = json.loads(value) if key in JSON_KEYS else value
        except (UnicodeDecodeError, ValueError, TypeError):
            raise _lie(path, key, "is not JSON text") from None
    _check_metadata(path, out)
    return out


# What each attribute must be, checked like a config: (test, what was expected).
_EXPECTED: dict[str, tuple[Any, str]] = {
    "class_names": (
        lambda v: isinstance(v, list) and len(v) >= 1 and all(isinstance(c, str) for c in v),
        "a list of class names",
    ),
    "input_shape": (
        lambda v: isinstance(v, list) and len(v) == 3 and all(_positive_int(d) for d in v),
        "[height, width, channels] of positive integers",
    ),
    "preprocessing": (
        lambda v: isinstance(v, dict) and _finite_positive(v.get("scale", 1.0)),
        "a mapping with a positive finite 'scale'",
    ),
    "config": (lambda v: isinstance(v, dict), "a JSON object (the resolved config)"),
    "epoch": (lambda v: v == 0 or _positive_int(v), "an epoch number"),
}


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _finite_positive(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < float("inf")


def _lie(path: Path, key: str, what: str) -> UserError:
    return UserError(
        Problem(
            f"its metadata attribute {PREFIX}{key} {what}",
            file=str(path),
            hint="the file was not written by cnnrun, or was changed since",
        )
    )


def _check_metadata(path: Path, meta: dict[str, Any]) -> None:
    for key, (ok, expected) in _EXPECTED.items():
        if key in meta and not ok(meta[key]):
            raise _lie(path, key, f"is {str(meta[key])[:60]!r}; expected {expected}")
