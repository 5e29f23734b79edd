"""Images read on demand: the common face of streamed HDF5 datasets, image files and caches.

A lazy source has a shape, a dtype and `read(index)`, which returns those rows as one array;
`subset` and `take` work on any of them, so splits, galleries and predict never load a whole
source. `concurrent` says whether the input pipeline may run several reads at once (h5py
serialises its reads; Pillow decodes with the GIL released).

Example:
    >>> import numpy as np
    >>> rows = ArrayImages(np.arange(12, dtype=np.uint8).reshape(4, 1, 3, 1))
    >>> take(subset(rows, np.array([3, 1])), [1]).reshape(-1).tolist()
    [3, 4, 5]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


class LazyImages:
    """Images NHWC read a few rows at a time; subclasses define `shape`, `dtype`, `read`."""

    shape: tuple[int, ...]
    dtype: np.dtype
    concurrent: bool = False

    def __len__(self) -> int:
        return self.shape[0]

    # whether `chunks` decodes in parallel by itself (then callers need no threads of their own)
    parallel_chunks: bool = False

    def read(self, index: np.ndarray) -> np.ndarray:  # pragma: no cover - always overridden
        raise NotImplementedError

    def chunks(self, index: np.ndarray, size: int) -> Iterator[np.ndarray]:
        """Rows `index`, read a few at a time (about `size`), in order."""
        index = np.asarray(index, dtype=np.int64)
        for a in range(0, len(index), size):
            yield self.read(index[a : a + size])


@dataclass
class ArrayImages(LazyImages):
    """An array read by rows: a memory-mapped `.npy` cache is never loaded whole."""

    array: np.ndarray
    concurrent: bool = True

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return self.array.dtype

    def read(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        order = np.argsort(index, kind="stable")  # a memory map reads forward fastest
        out = np.empty((len(index), *self.array.shape[1:]), self.array.dtype)
        out[order] = self.array[index[order]]
        return out


@dataclass
class Subset(LazyImages):
    """Some rows of a lazy source, still read on demand."""

    base: LazyImages
    rows: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (len(self.rows), *self.base.shape[1:])

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return self.base.dtype

    @property
    def concurrent(self) -> bool:  # type: ignore[override]
        return self.base.concurrent

    @property
    def parallel_chunks(self) -> bool:  # type: ignore[override]
        return self.base.parallel_chunks

    def read(self, index: np.ndarray) -> np.ndarray:
        return self.base.read(self.rows[np.asarray(index, dtype=np.int64)])

    def chunks(self, index: np.ndarray, size: int) -> Iterator[np.ndarray]:
        return self.base.chunks(self.rows[np.asarray(index, dtype=np.int64)], size)


def subset(x: LazyImages, rows: np.ndarray) -> Subset:
    """The rows `rows` of `x` (of a subset too: one level deep, whatever the nesting)."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(x, Subset):
        return Subset(x.base, x.rows[rows])
    return Subset(x, rows)


def base_of(x: Any) -> Any:
    """The source a subset reads from, or `x` itself."""
    return x.base if isinstance(x, Subset) else x


def rows_of(x: Any) -> np.ndarray:
    """The base source's rows that `x` holds."""
    return x.rows if isinstance(x, Subset) else np.arange(len(x))


def take(x: Any, index: Any) -> np.ndarray:
    """Rows `index` of the images `x`: an in-memory array, or a lazy source read just there."""
    index = np.asarray(index, dtype=np.int64)
    return x.read(index) if isinstance(x, LazyImages) else np.asarray(x)[index]
