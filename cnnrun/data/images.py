"""Image files and folders of images: the one reader that training and predict share.

Example:
    ```python
    files, labels, classes = class_folders(Path("data/train"))
    x = read_image(files[0], (28, 28), 1)  # uint8, (28, 28, 1)
    ```
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.config.schema import MAX_IMAGE_PIXELS
from cnnrun.errors import Problem, UserError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _open(path: Path, max_pixels: int) -> Any:
    from PIL import Image

    with warnings.catch_warnings():  # the size is checked here, with cnnrun's own limit
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(path)
    if im.width * im.height > max_pixels:
        im.close()
        raise UserError(
            Problem(
                f"is {im.width}x{im.height} = {im.width * im.height:,} pixels; images are "
                f"refused above {max_pixels:,} before decoding",
                file=str(path),
                hint="resize it, or raise the limit (data.max_image_pixels, --max-image-pixels)",
            )
        )
    return im


def _to_8bit(im: Any) -> Any:
    """16- and 32-bit grey scaled to 8 bits by the image's own depth, not clipped at 255."""
    from PIL import Image

    if not im.mode.startswith("I"):
        return im
    peak = 65535.0 if im.mode.startswith("I;16") or np.asarray(im).max() <= 65535 else 2**32 - 1
    arr = np.rint(np.asarray(im, dtype=np.float64) * (255.0 / peak))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def read_image(
    path: Path, size: tuple[int, int], channels: int, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """One image file as a uint8 (height, width, channels) array, resized and converted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _open(path, max_pixels) as opened:
            im = _to_8bit(opened).convert("L" if channels == 1 else "RGB")
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserError(Problem(f"cannot decode the image: {e}", file=str(path))) from None
    return arr[..., None] if channels == 1 else arr


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def first_image_format(
    path: Path, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[tuple[int, int], int]:
    """(height, width) and channels (1 for grey, else 3) of an image file, without decoding it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _open(path, max_pixels) as im:
            return (im.height, im.width), 1 if im.mode in GREY_MODES else 3
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise UserError(Problem(f"cannot decode the image: {e}", file=str(path))) from None


def class_folders(folder: Path) -> tuple[list[Path], list[str], list[str]]:
    """The images of a folder of class sub-folders: (files, each file's class, the classes).

    Hidden sub-folders are skipped; classes are the sub-folders' names, sorted.
    """
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[str] = []
    for name in classes:
        found = image_files(folder / name)
        files += found
        labels += [name] * len(found)
    return files, labels, classes


def read_images(
    files: list[Path],
    size: tuple[int, int],
    channels: int,
    skip_bad: bool = False,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode `files` into one (N, height, width, channels) uint8 array.

    Returns:
        The images, the indices of `files` they came from, and `(file, reason)` for each
        file `skip_bad` left out.

    Raises:
        UserError: an undecodable file (unless `skip_bad`), or no image at all.
    """
    arrays, kept, skipped = [], [], []
    for i, f in enumerate(files):
        try:
            arrays.append(read_image(f, size, channels, max_pixels))
        except UserError as e:
            if not skip_bad:
                hint = Problem("use --skip-bad to leave undecodable images out", file=str(f))
                raise UserError([*e.problems[:1], hint]) from None
            skipped.append((str(f), e.problems[0].message))
            continue
        kept.append(i)
    if not arrays:
        raise UserError(Problem("no image could be read", file=str(files[0].parent)))
    return np.stack(arrays), kept, skipped
