"""A training source's images and labels, as every reader hands them to the split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """Images and integer labels of one source, before the validation split.

    Args:
        x: images, NHWC (a NumPy array, or `H5Images` for streamed HDF5).
        y: labels 0..K-1.
        class_names: K names; label i is `class_names[i]`.
        scale: pixels are multiplied by this to land in [0, 1] (recorded in the run).
        x_test, y_test: the source's own test split, if it has one.
        origin: where the data came from, for messages and the run summary.
        x_val, y_val: the source's own validation split (a manifest's `split` column).
        fingerprint: the source's own fingerprint (a file set's), else one of the pixels.
        skipped: `(file, reason)` for each bad image file `on_bad_image: skip` left out.
        decode: how image files became pixels, for the run's records.
    """

    x: Any
    y: np.ndarray
    class_names: list[str]
    scale: float
    x_test: Any = None
    y_test: np.ndarray | None = None
    origin: str = ""
    x_val: Any = None
    y_val: np.ndarray | None = None
    fingerprint: str | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    decode: dict[str, Any] | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]
