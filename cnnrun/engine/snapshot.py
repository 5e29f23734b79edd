"""A model's weights file written epoch after epoch without Keras walking the model each time:
byte for byte the file Keras's `save_weights` writes.

Keras's `save_weights` walks the whole model on every call, and for a backbone of a few
hundred layers most of that walk goes to building throwaway objects to list attributes
(`saving_lib.get_attr_skipset`, benchmarks/RESULTS.md). Yet the file it writes is the same
every epoch but for the variables' values, and h5py stores each variable as one contiguous
run of bytes at a fixed offset. So Keras writes the file once, with every variable set to a
marker (its own number), which shows which bytes hold which variable; after that an epoch's
file is those bytes with the current values written in.

A file that cannot be patched so (compressed or chunked data, a dataset no variable
explains, a marker the variable's dtype cannot hold) has no layout: the caller keeps
Keras's own `save_weights`.

Example:
    ```python
    plan = layout(model, with_optimizer=True, scratch=run_dir / "marker.weights.h5")
    if plan is not None and plan.fits(model):
        write(plan, run_dir / "last.weights.h5")  # what keras.saving.save_weights writes
    ```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np


def _variables(model: keras.Model, with_optimizer: bool) -> list[Any]:
    found = list(model.variables)
    if with_optimizer and getattr(model, "optimizer", None) is not None:
        found += list(model.optimizer.variables)
    seen: set[int] = set()
    return [v for v in found if not (id(v) in seen or seen.add(id(v)))]


@dataclass(frozen=True)
class Layout:
    """Where each variable's bytes sit in the weights file Keras writes for a model."""

    template: bytes
    spots: tuple[tuple[int, np.dtype, int], ...]  # (offset in the file, file dtype, variable)
    variables: tuple[Any, ...]
    with_optimizer: bool

    def fits(self, model: keras.Model) -> bool:
        """Whether `model` still has exactly the variables this layout was made for (a new
        phase compiles a new optimizer, with new variables)."""
        now = _variables(model, self.with_optimizer)
        return len(now) == len(self.variables) and all(
            a is b for a, b in zip(now, self.variables, strict=True)
        )


def _marker(index: int, variable: Any) -> np.ndarray | None:
    """Variable `index`'s marker: every element `index + 1`, or None if its dtype cannot
    hold that number exactly (bool, a narrow integer or float)."""
    dtype = np.dtype(keras.backend.standardize_dtype(variable.dtype))
    if dtype == np.bool_:
        return None
    try:
        value = np.full(tuple(variable.shape), index + 1, dtype=dtype)
    except (OverflowError, ValueError):
        return None
    if value.size and value.flat[0].astype(np.float64) != index + 1:
        return None
    return value


def _spots(path: Path, variables: list[Any]) -> list[tuple[int, np.dtype, int]] | None:
    spots: list[tuple[int, np.dtype, int]] = []
    datasets: list[h5py.Dataset] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        for ds in datasets:
            if ds.size == 0:
                continue
            values = ds[()]
            first = np.asarray(values).flat[0]
            offset = ds.id.get_offset()
            if offset is None or ds.chunks is not None or not np.all(values == first):
                return None
            index = int(first) - 1
            if not 0 <= index < len(variables) or tuple(variables[index].shape) != ds.shape:
                return None
            spots.append((int(offset), ds.dtype, index))
    return spots


def layout(model: keras.Model, with_optimizer: bool, scratch: Path) -> Layout | None:
    """Have Keras write `model`'s weights file once, with markers, to learn its layout.

    The variables are set to their markers for the one write and given back their values
    exactly after it; `scratch` (a `.weights.h5` path) is removed.

    Returns:
        The layout, or None when the file Keras writes cannot be patched in place.
    """
    variables = _variables(model, with_optimizer)
    markers = [_marker(i, v) for i, v in enumerate(variables)]
    if any(m is None for m in markers):
        return None
    kept = [v.numpy() for v in variables]
    optimizer = getattr(model, "optimizer", None)
    skip = [] if with_optimizer or optimizer is None else [optimizer]
    try:
        try:
            for v, m in zip(variables, markers, strict=True):
                v.assign(m)
            keras.saving.save_weights(model, scratch, objects_to_skip=skip)
        finally:
            for v, value in zip(variables, kept, strict=True):
                v.assign(value)
        spots = _spots(scratch, variables)
        template = scratch.read_bytes()
    finally:  # also after a failed write (a full disk): no marker file is left behind
        scratch.unlink(missing_ok=True)
    if spots is None:
        return None
    return Layout(template, tuple(spots), tuple(variables), with_optimizer)


def render(plan: Layout) -> bytes:
    """The bytes of the weights file Keras would write for the model's current values."""
    data = bytearray(plan.template)
    values = [v.numpy() for v in plan.variables]
    for offset, dtype, index in plan.spots:
        raw = np.ascontiguousarray(values[index], dtype=dtype).tobytes()
        data[offset : offset + len(raw)] = raw
    return bytes(data)


def write(plan: Layout, path: Path) -> None:
    """Write the weights file Keras would write for the model's current values to `path`."""
    path.write_bytes(render(plan))
