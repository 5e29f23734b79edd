"""Image files and folders of images: the one reader that training and predict share.

Example:
    >>> files, labels, classes = class_folders(Path("data/train"))
    >>> x = read_image(files[0], (28, 28), 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnrun.errors import Problem, UserError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def read_image(path: Path, size: tuple[int, int], channels: int) -> np.ndarray:
    """One image file as a uint8 (height, width, channels) array, resized and converted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(Problem(f"cannot decode the image: {e}", file=str(path))) from None
    return arr[..., None] if channels == 1 else arr


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def first_image_format(path: Path) -> tuple[tuple[int, int], int]:
    """(height, width) and channels (1 for grey, else 3) of an image file, without decoding it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return (im.height, im.width), 1 if im.mode in GREY_MODES else 3
    except (UnidentifiedImageError, OSError) as e:
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
    files: list[Path], size: tuple[int, int], channels: int, skip_bad: bool = False
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
            arrays.append(read_image(f, size, channels))
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
