"""HDF5 images, streamed: a dataset is read a batch at a time, never loaded whole.

One reader for training and predict: `open_hdf5` checks the file and its datasets once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.data.lazy import LazyImages
from cnnrun.errors import Problem, UserError

# HDF5's cache of decompressed chunks for a streamed dataset: a dataset this size or smaller
# is read from the file once and then from memory; a larger one reads what it touches. A fixed
# size, so memory stays flat in the file's size.
CHUNK_CACHE_BYTES = 64 * 2**20


@dataclass
class H5Images(LazyImages):
    """A lazily read images dataset in an HDF5 file: never loaded whole.

    The file is opened at the first read and kept open, with a chunk cache of
    `CHUNK_CACHE_BYTES`: opened per batch, the cache went with it, and a shuffled batch read
    each of its rows' chunks from the file again (benchmarks/RESULTS.md).
    """

    path: Path
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    _dataset: Any = field(default=None, init=False, repr=False, compare=False)

    def _open(self) -> Any:
        if self._dataset is None:
            import h5py

            f = h5py.File(self.path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES, rdcc_nslots=100_003)
            self._dataset = f[self.name]
        return self._dataset

    def read(self, index: np.ndarray) -> np.ndarray:
        """Rows `index` (any order) as one array.

        Runs of consecutive rows are read as one slice each, so an ordered pass costs one
        read per batch; a shuffled batch is read row by row, which is much faster than
        h5py's fancy selection of the same rows (benchmarks/RESULTS.md).
        """
        index = np.asarray(index)
        order = np.argsort(index, kind="stable")
        rows = index[order]
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        d = self._open()
        block = np.empty((len(rows), *d.shape[1:]), dtype=d.dtype)
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(rows)], strict=True):
            block[a:b] = d[rows[a] : rows[b - 1] + 1]
        out = np.empty_like(block)
        out[order] = block
        return out.reshape(len(out), *self.shape[1:])


def _err(message: str, file: str, loc: tuple = (), hint: str = "") -> UserError:
    return UserError(Problem(message, loc, hint=hint, file=file))


def open_hdf5(
    path: Path,
    x_name: str,
    y_name: str,
    require_y: bool = True,
    locs: tuple[tuple, tuple] = (("data", "x_dataset"), ("data", "y_dataset")),
) -> tuple[H5Images, np.ndarray | None]:
    """An images dataset (lazy) and its labels (read whole, small) from an HDF5 file.

    Args:
        path: the file.
        x_name, y_name: the datasets' names.
        require_y: a missing labels dataset is an error (else: no labels).
        locs: where the two names come from in the config, for messages (`()` for none).

    Raises:
        UserError: not HDF5, a missing dataset, a shape that is not images, labels that do
            not match the images.
    """
    import h5py

    file = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise _err(f"cannot open as HDF5: {e}", file) from None
    with f:

        def get(name: str, loc: tuple) -> Any:
            if name not in f or not isinstance(f[name], h5py.Dataset):
                have = ", ".join(k for k in f if isinstance(f[k], h5py.Dataset)) or "none"
                raise _err(f"has no dataset '{name}' (datasets: {have})", file, loc)
            return f[name]

        xd = get(x_name, locs[0])
        shape = xd.shape if xd.ndim == 4 else (*xd.shape, 1)
        if len(shape) != 4:
            raise _err(
                f"dataset '{x_name}' has shape {xd.shape}; expected (N, height, width[, channels])",
                file,
            )
        x = H5Images(path, x_name, tuple(shape), xd.dtype)
        y = np.asarray(get(y_name, locs[1])) if require_y or y_name in f else None
    if y is not None:
        from cnnrun.data.arrays import labels_of

        y = labels_of(y, len(x), y_name, file)
    return x, y
