"""`data.cache`: image files decoded once, into memory or a memory-mapped file on disk, or
every epoch (`none`); `auto` picks memory up to a fixed cap of decoded pixels.

Example:
    >>> choose_cache("auto", 300 * 2**20)
    ('memory', 'auto: 300 MiB of decoded pixels fit the 512 MiB cap')
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.config.schema import AUTO_CACHE_BYTES
from cnnrun.data.images import ImageFiles, workers
from cnnrun.data.lazy import ArrayImages, LazyImages, base_of, rows_of


def decoded_bytes(xs: Sequence[Any]) -> int:
    """Bytes of pixels the lazy sources among `xs` decode to."""
    return sum(int(np.prod(x.shape)) for x in xs if isinstance(base_of(x), ImageFiles))


def choose_cache(mode: str, nbytes: int) -> tuple[str, str]:
    """(`none` | `memory` | `disk`, why), for `data.cache`."""
    mib = nbytes / 2**20
    if mode != "auto":
        return mode, f"data.cache: {mode}, {mib:,.0f} MiB of decoded pixels"
    if nbytes <= AUTO_CACHE_BYTES:
        return "memory", f"auto: {mib:,.0f} MiB of decoded pixels fit the 512 MiB cap"
    return "none", f"auto: {mib:,.0f} MiB of decoded pixels exceed the 512 MiB cap: streamed"


def _fill(x: LazyImages, out: np.ndarray, block: int = 64) -> None:
    if x.parallel_chunks:  # one pass that decodes in parallel by itself
        a = 0
        for chunk in x.chunks(np.arange(len(x)), block):
            out[a : a + len(chunk)] = chunk
            a += len(chunk)
        return
    starts = range(0, len(x), block)

    def one(a: int) -> None:
        out[a : a + block] = x.read(np.arange(a, min(a + block, len(x))))

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        list(pool.map(one, starts))


def materialize(x: LazyImages) -> ArrayImages:
    """Every row of `x` decoded, in parallel, into one array (`data.cache: memory`).

    Handed to the pipeline as rows to gather, not as one array: TensorFlow copies an array
    into a tensor whole, holding every pixel twice and costing more at each run's start
    than the gathers save over its epochs (benchmarks/RESULTS.md).
    """
    out = np.empty(x.shape, x.dtype)
    _fill(x, out)
    return ArrayImages(out)


def cache_key(x: Any, fingerprint: str) -> str:
    """Names a cache file by the data, the decoding and the rows it holds."""
    base = base_of(x)
    h = hashlib.sha256(fingerprint.encode())
    h.update(repr(sorted(base.spec.record().items())).encode())
    h.update(np.ascontiguousarray(rows_of(x), dtype=np.int64).tobytes())
    return h.hexdigest()[:20]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def disk_cache(x: LazyImages, folder: Path, key: str) -> ArrayImages:
    """`x` decoded once into `folder/images-KEY.npy` and read back memory-mapped.

    The file is written under a temporary name and moved into place when whole, so a run
    killed while writing it leaves no cache that looks finished; the next run writes it
    again, and removes what a dead process left.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"images-{key}.npy"
    for stale in folder.glob(f".images-{key}.*.tmp.npy"):
        pid = stale.name.split(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    if final.exists():
        try:
            arr = np.load(final, mmap_mode="r")
            if tuple(arr.shape) == tuple(x.shape) and arr.dtype == x.dtype:
                return ArrayImages(arr)
        except (OSError, ValueError):
            pass  # unreadable: written again below
    tmp = folder / f".images-{key}.{os.getpid()}.tmp.npy"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=x.dtype, shape=tuple(x.shape))
    try:
        _fill(x, out)
        out.flush()
    except BaseException:
        del out
        tmp.unlink(missing_ok=True)
        raise
    del out
    os.replace(tmp, final)
    return ArrayImages(np.load(final, mmap_mode="r"))


def cache_parts(
    parts: dict[str, Any],
    mode: str,
    folder: Path | None,
    fingerprint: str,
    memory: Callable[[LazyImages], LazyImages] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The lazy image-file parts of a split (train, validation, test) cached as `mode` asks.

    `memory` makes the in-memory cache of one part: by default (None) `materialize`; the
    engine passes one that fills as the rows are read (`cnnrun.engine.cache.memory_cache`).

    Returns:
        The parts, each an in-memory array (`memory`), a memory-mapped file (`disk`) or still
        read from its files (`none`), and what was chosen and why, for the run's records.
    """
    lazy = {k: x for k, x in parts.items() if isinstance(base_of(x), ImageFiles)}
    if not lazy:
        return parts, {}
    chosen, reason = choose_cache(mode, decoded_bytes(list(lazy.values())))
    record: dict[str, Any] = {"mode": chosen, "requested": mode, "reason": reason}
    out = dict(parts)
    for name, x in lazy.items():
        if chosen == "memory":
            out[name] = (memory or materialize)(x)
        elif chosen == "disk":
            assert folder is not None
            out[name] = disk_cache(x, folder, cache_key(x, fingerprint))
    if chosen == "disk":
        record["folder"] = str(folder)
    return out, record
