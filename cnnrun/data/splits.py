"""Splitting a dataset: a fixed test split, then a stratified, seeded validation split.

Unlike Keras's `validation_split`, which takes the last samples unshuffled, every class is
represented in each part in proportion, and the order is shuffled with the run's seed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.config.schema import DataConfig
from cnnrun.data.dataset import Dataset
from cnnrun.data.hdf5 import H5Images
from cnnrun.data.lazy import LazyImages, base_of, subset
from cnnrun.errors import Problem, UserError

# The test split carved by `data.test_split` does not move with the run's seed, so runs with
# different seeds are scored on the same images.
TEST_SPLIT_SEED = 0


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): `fraction` of every class held out, shuffled with `seed`.

    Unlike Keras's `validation_split`, which takes the last samples unshuffled, every class
    is represented in both parts in proportion.
    """
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n = round(len(idx) * fraction)
        if len(idx) >= 2:
            n = min(max(n, 1), len(idx) - 1)
        held.append(idx[:n])
    # A mask rather than np.setdiff1d, which sorts copies of every index: at 650k images
    # that was tens of MB of peak memory for nothing.
    mask = np.zeros(len(y), dtype=bool)
    for idx in held:
        mask[idx] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def take(x: Any, index: np.ndarray) -> Any:
    """Rows of an array, or a lazy view of a lazy source (HDF5, image files)."""
    return subset(x, index) if isinstance(x, LazyImages) else x[index]


def fingerprint(ds: Dataset) -> str:
    """A short hash of the data a run trained on: a photo set's own (its files), else one of
    the labels and images (or the HDF5 file's identity)."""
    return ds.fingerprint or pixels_fingerprint(ds)


def pixels_fingerprint(ds: Dataset) -> str:
    """The hash of every label and pixel: how runs before photo sets' own fingerprints
    fingerprinted an image folder (decoded whole), and still how arrays are."""
    from cnnrun.data.lazy import take as rows

    h = hashlib.sha256()
    for x, y in ((ds.x, ds.y), (ds.x_test, ds.y_test)):
        if y is None:
            continue
        h.update(np.ascontiguousarray(y).tobytes())
        base = base_of(x)
        if isinstance(base, H5Images):  # the file's identity: hashing it would read it all
            st = os.stat(base.path)
            h.update(f"{base.path}:{base.name}:{x.shape}:{st.st_size}:{st.st_mtime_ns}".encode())
        elif isinstance(x, LazyImages):
            for a in range(0, len(x), 256):
                h.update(rows(x, np.arange(a, min(a + 256, len(x)))).tobytes())
        else:
            h.update(np.ascontiguousarray(x).tobytes())
    h.update("\n".join(ds.class_names).encode())
    return h.hexdigest()[:16]


@dataclass
class Splits:
    """Train, validation and (optional) test parts of a dataset, ready for pipelines."""

    x_train: Any
    y_train: np.ndarray
    x_val: Any
    y_val: np.ndarray
    x_test: Any
    y_test: np.ndarray | None
    class_names: list[str]
    scale: float
    origin: str
    fingerprint: str
    dataset: Dataset | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def cached(
        self,
        mode: str,
        folder: Path | None,
        memory: Callable[[LazyImages], LazyImages] | None = None,
    ) -> Splits:
        """These splits with their image files decoded once, as `data.cache` asks
        (`cache.cache_parts`, `memory` making its in-memory caches); other sources are
        returned as they are."""
        from cnnrun.data.cache import cache_parts

        parts = {"x_train": self.x_train, "x_val": self.x_val}
        if self.x_test is not None:
            parts["x_test"] = self.x_test
        out, record = cache_parts(parts, mode, folder, self.fingerprint, memory)
        return replace(self, **out, cache=record) if record else self

    @property
    def counts(self) -> dict[str, int]:
        return {
            "train": len(self.y_train),
            "validation": len(self.y_val),
            "test": 0 if self.y_test is None else len(self.y_test),
        }


def split_dataset(ds: Dataset, cfg: DataConfig, seed: int) -> Splits:
    """Split a dataset: test (the source's own, or `test_split` with a fixed seed), then a
    stratified, seeded `validation_split` of the rest.

    Raises:
        UserError: a split that leaves a part empty, or `test_split` on a source with its own.
    """
    x, y, x_test, y_test = ds.x, ds.y, ds.x_test, ds.y_test
    if cfg.test_split:
        if y_test is not None:
            raise UserError(
                Problem(
                    f"{ds.origin or cfg.source} has its own test split "
                    f"({len(y_test)} images); remove data.test_split",
                    ("data", "test_split"),
                )
            )
        keep, held = stratified_split(y, cfg.test_split, TEST_SPLIT_SEED)
        x, y, x_test, y_test = take(ds.x, keep), y[keep], take(ds.x, held), y[held]
    if ds.y_val is not None:  # the source's own (a manifest's split column)
        parts = (x, y, ds.x_val, ds.y_val, x_test, y_test)
        return Splits(*parts, ds.class_names, ds.scale, ds.origin, fingerprint(ds), ds)
    keep, held = stratified_split(y, cfg.validation_split, seed)
    if len(keep) == 0 or len(held) == 0:
        raise UserError(
            Problem(
                f"{len(y)} images cannot be split into training and validation with "
                f"validation_split {cfg.validation_split}",
                ("data", "validation_split"),
            )
        )
    return Splits(
        take(x, keep),
        y[keep],
        take(x, held),
        y[held],
        x_test,
        y_test,
        ds.class_names,
        ds.scale,
        ds.origin,
        fingerprint(ds),
        ds,
    )


def class_index(key: int | str, names: list[str]) -> int | None:
    """A class given by name or label number, as its label; None when there is no such class."""
    if isinstance(key, str) and key in names:
        return names.index(key)
    if isinstance(key, int) and 0 <= key < len(names):
        return key
    return None


def class_weight_problems(spec: Any, names: list[str]) -> list[Problem]:
    """`train.class_weight` keys that name no class of the data."""
    if not isinstance(spec, dict):
        return []
    return [
        Problem(
            f"no class {key!r} in the data; its classes are {', '.join(names)}",
            ("train", "class_weight", key),
            hint="use a class name or a label number from 0 to " + str(len(names) - 1),
        )
        for key in spec
        if class_index(key, names) is None
    ]


def class_weights(spec: Any, names: list[str], y_train: np.ndarray) -> np.ndarray | None:
    """One weight per class for `train.class_weight`, or None.

    `balanced` is n / (classes x count of the class) over the training split, as scikit-learn's
    `compute_class_weight("balanced", ...)`; a mapping sets the listed classes (others 1).
    """
    if spec is None:
        return None
    k = len(names)
    if spec == "balanced":
        counts = np.bincount(np.asarray(y_train), minlength=k).astype(np.float64)
        return np.where(counts > 0, len(y_train) / (k * np.maximum(counts, 1)), 1.0)
    out = np.ones(k)
    for key, weight in spec.items():
        out[class_index(key, names)] = weight
    return out
