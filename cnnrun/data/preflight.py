"""The check before training: every image file read from its header and its end, not its
pixels, so a truncated, empty or foreign file is found before the first epoch, all of them
at once, in parallel (the work is waiting for the disk).

Pillow's own `verify` accepts half a JPEG; its missing end-of-image marker does not.

Example:
    >>> check_file("no/such/photo.jpg")
    'no such file'
"""

from __future__ import annotations

import mmap
import os
import warnings
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np

from cnnrun.config.schema import MAX_IMAGE_PIXELS
from cnnrun.data.images import ImageFiles, orientation
from cnnrun.data.lazy import base_of, rows_of
from cnnrun.errors import Problem, UserError

SHOWN_BAD = 20  # bad files listed by name; the rest are counted
TAIL_BYTES = 4096
OVER_LIMIT = "over the pixel limit"
Header = tuple[
    int, int, int
]  # width, height, EXIF orientation  # a reason's words, so the hint can name the limit


def _tail(f: BinaryIO, size: int) -> bytes:
    f.seek(max(0, size - TAIL_BYTES))
    return f.read().rstrip(b"\x00")


def _contains_after(f: BinaryIO, marker: bytes, offset: int) -> bool:
    """Whether `marker` is in the file after `offset` (a phone may append data after it)."""
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(marker, offset) >= 0


def _end_problem(f: BinaryIO, fmt: str, size: int, offset: int) -> str | None:
    """Why the file's end shows it truncated, from its last bytes (not its pixels)."""
    tail = _tail(f, size)
    if fmt in ("JPEG", "MPO"):
        # Entropy-coded data never holds the end-of-image marker, so one after the first
        # scan is the image's own end, even with a phone's trailer behind it.
        if tail.endswith(b"\xff\xd9") or _contains_after(f, b"\xff\xd9", offset):
            return None
        return "truncated: no end-of-image marker (the file ends inside its pixels)"
    if fmt == "PNG":
        if b"IEND" in tail[-64:] or _contains_after(f, b"IEND", offset):
            return None
        return "truncated: no IEND chunk (the file ends inside its pixels)"
    if fmt == "GIF" and not tail.endswith(b";"):
        return "truncated: no GIF trailer"
    if fmt in ("BMP", "WEBP"):
        f.seek(0)
        head = f.read(12)
        declared = int.from_bytes(head[2:6] if fmt == "BMP" else head[4:8], "little")
        declared += 8 if fmt == "WEBP" else 0
        if declared > size:
            return f"truncated: {size:,} bytes of the {declared:,} its header declares"
    return None


def check_file(path: str, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """Why an image file would fail to decode, from its header and end; None if it looks whole."""
    return inspect_file(path, max_pixels)[0]


def inspect_file(path: str, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[str | None, Header]:
    """`check_file`'s reason, and the (width, height, EXIF orientation) its header gives
    ((0, 0, 1) for a bad file): what the decoder needs to know before it reads the pixels."""
    from PIL import Image, UnidentifiedImageError

    none = (0, 0, 1)
    try:
        # one open file for the header and the end
        with open(path, "rb") as f, warnings.catch_warnings():
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return "empty file (0 bytes)", none
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(f) as im:
                if im.width * im.height > max_pixels:
                    return (
                        f"{im.width}x{im.height} = {im.width * im.height:,} pixels, "
                        f"{OVER_LIMIT} of {max_pixels:,}"
                    ), none
                offset = im.tile[0][2] if im.tile else 0
                header = (im.width, im.height, orientation(im))
                return _end_problem(f, im.format or "", size, offset), header
    except FileNotFoundError:
        return "no such file", none
    except Image.DecompressionBombError as e:
        return f"refused as a decompression bomb: {e}", none
    except UnidentifiedImageError:
        return "not an image Pillow can read (is it an image file at all?)", none
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        reason = str(e) or type(e).__name__
        if "truncated" in reason.lower() or isinstance(e, EOFError | SyntaxError):
            return f"truncated: the file ends inside its header ({reason})", none
        return f"cannot read: {reason}", none


def survey(
    paths: Sequence[str], max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """`(file, reason)` for each file that would fail to decode, in the files' order, and
    every file's (width, height, orientation) as an int64 array.

    One file after another: each check is mostly Python holding the GIL, and a thread pool
    made it slower, not faster (benchmarks/RESULTS.md).
    """
    checked = [inspect_file(p, max_pixels) for p in paths]
    bad = [(p, r) for p, (r, _) in zip(paths, checked, strict=True) if r is not None]
    meta = np.asarray([h for _, h in checked], dtype=np.int64).reshape(-1, 3)
    return bad, meta


def preflight(paths: Sequence[str], max_pixels: int = MAX_IMAGE_PIXELS) -> list[tuple[str, str]]:
    """`(file, reason)` for each file that would fail to decode, in the files' order."""
    return survey(paths, max_pixels)[0]


def bad_files_error(
    bad: list[tuple[str, str]], where: str, total: int, hint: str, limit_hint: str
) -> UserError:
    """The bad files, up to `SHOWN_BAD` of them named, as one error.

    Args:
        hint: what to do about files that cannot be read.
        limit_hint: what to do about images over the pixel limit, which can be read.
    """
    shown = [Problem(reason, file=path) for path, reason in bad[:SHOWN_BAD]]
    more = f" ({len(bad) - SHOWN_BAD} more not shown)" if len(bad) > SHOWN_BAD else ""
    over = sum(OVER_LIMIT in reason for _, reason in bad)
    hints = [hint] if over < len(bad) else []
    hints += [limit_hint] if over else []
    head = Problem(
        f"{len(bad)} of {total:,} image files cannot be used{more}",
        file=where,
        hint="; ".join(hints),
    )
    return UserError([head, *shown])


def drop_bad(
    paths: list[str], labels: list[Any], on_bad: str, where: str, max_pixels: int
) -> tuple[list[str], list[Any], list[tuple[str, str]], np.ndarray]:
    """Check every file; refuse the set (`error`) or leave the bad ones out (`skip`).

    Returns:
        The files and labels kept, `(file, reason)` for each left out, and the kept files'
        (width, height, orientation) from their headers.
    """
    bad, meta = survey(paths, max_pixels)
    if bad and on_bad == "error":
        hint = "fix or remove them, or set data.on_bad_image: skip to leave them out"
        limit = "resize them, or raise the limit (data.max_image_pixels)"
        raise bad_files_error(bad, where, len(paths), hint, limit)
    if not bad:
        return paths, labels, [], meta
    gone = {p for p, _ in bad}
    keep = [i for i, p in enumerate(paths) if p not in gone]
    if not keep:
        raise UserError(Problem("no image file could be read", file=where))
    return [paths[i] for i in keep], [labels[i] for i in keep], bad, meta[keep]


def recheck(xs: Sequence[Any]) -> list[tuple[str, str]]:
    """After a failed read: `(file, reason)` for the files of `xs` that no longer decode.

    The input pipeline's error says only that a read failed, not which file: the files are
    checked again to name the ones that changed on disk after the pre-flight.
    """
    bad: list[tuple[str, str]] = []
    for x in xs:
        base = base_of(x)
        if isinstance(base, ImageFiles):
            bad += preflight([base.paths[i] for i in rows_of(x)], base.spec.max_pixels)
    return bad
