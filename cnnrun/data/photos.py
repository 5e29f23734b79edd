"""Photo sets at real sizes: a folder of class sub-folders or a manifest CSV, listed, read
on demand (`ImageFiles`), and fingerprinted from their files, not their pixels.

`ImageFiles` is a lazy source: the input pipeline decodes batches of it in parallel (with
`images.decode`, as predict does), so no array of every image is held; `cache` decodes it
once when `data.cache` asks, and `preflight` checks every file before training.

Example:
    ```python
    files = ImageFiles([str(p) for p in paths], Decode((160, 160), 3, "crop"), root=folder)
    batch = files.read(np.array([0, 5]))  # uint8, (2, 160, 160, 3)
    ```
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnrun.config.schema import DataConfig
from cnnrun.data.dataset import Dataset
from cnnrun.data.images import IMAGE_EXTENSIONS, Decode, ImageFiles, first_image_format
from cnnrun.data.lazy import subset
from cnnrun.data.preflight import drop_bad
from cnnrun.errors import Problem, UserError

SPLIT_NAMES = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}
SHOWN_ROWS = 20  # a manifest's bad rows reported at once
SAMPLED_FILES = 64  # files whose bytes the fingerprint hashes
SAMPLED_BYTES = 65536  # from the start and from the end of each


def _bad(message: str, file: str, hint: str = "") -> UserError:
    return UserError(Problem(message, file=file, hint=hint))


# ---- listing ------------------------------------------------------------------------------


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted; hidden files and folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [
            Path(dirpath, f)
            for f in filenames
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS
        ]
    return sorted(found)


def class_folders(folder: Path) -> tuple[list[Path], list[str], list[str]]:
    """The images of a folder of class sub-folders: (files, each file's class, the classes)."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[str] = []
    for name in classes:
        found = image_files(folder / name)
        files += found
        labels += [name] * len(found)
    return files, labels, classes


@dataclass
class Manifest:
    """A CSV of `path,label[,split]` rows: files relative to the CSV's folder."""

    paths: list[str]
    labels: list[str]
    splits: list[str] | None


def read_manifest(path: Path) -> Manifest:
    """Read a manifest; every row is checked and the first problems reported by line.

    Raises:
        UserError: no `path`/`label` header, an empty row, an unknown split name.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(f"cannot read the manifest: {e}", str(path)) from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    if "path" not in columns or "label" not in columns:
        raise _bad(
            f"has columns {columns or 'none'}; a manifest needs a header row with 'path' and "
            "'label' (and optionally 'split')",
            str(path),
            hint="e.g. path,label,split / cats/001.jpg,cat,train",
        )
    reader.fieldnames = columns
    has_split = "split" in columns
    paths, labels, splits, problems = [], [], [], []
    for line, row in enumerate(reader, start=2):
        p, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        split = (row.get("split") or "").strip().lower()
        if not p or not label:
            problems.append(Problem("a row needs a path and a label", file=f"{path}:{line}"))
        elif has_split and split not in SPLIT_NAMES:
            problems.append(
                Problem(
                    f"split is {split!r}; expected train, validation or test",
                    file=f"{path}:{line}",
                )
            )
        else:
            paths.append(str(path.parent / p))
            labels.append(label)
            splits.append(SPLIT_NAMES.get(split, "train"))
    if problems:
        raise UserError(problems[:SHOWN_ROWS])
    if not paths:
        raise _bad("has a header but no rows", str(path))
    return Manifest(paths, labels, splits if has_split else None)


def _sample_bytes(path: str, size: int) -> bytes:
    with open(path, "rb") as f:
        head = f.read(SAMPLED_BYTES)
        if size > 2 * SAMPLED_BYTES:
            f.seek(size - SAMPLED_BYTES)
        return head + f.read(SAMPLED_BYTES)


def files_fingerprint(files: ImageFiles, labels: np.ndarray, names: list[str]) -> str:
    """A short hash of a file set: relative paths, sizes and labels, and the bytes of a fixed
    sample of the files. Not the pixels (reading them all), not modification times (a copied
    folder must still resume)."""
    h = hashlib.sha256(b"files-v1\n")
    sizes = []
    for p, y in zip(files.paths, labels.tolist(), strict=True):
        size = os.stat(p).st_size
        sizes.append(size)
        rel = os.path.relpath(p, files.root)
        h.update(f"{rel}\t{size}\t{y}\n".encode())
    picks = np.unique(np.linspace(0, len(files.paths) - 1, SAMPLED_FILES).astype(np.int64))
    for i in picks.tolist():
        h.update(_sample_bytes(files.paths[i], sizes[i]))
    h.update("\n".join(names).encode())
    h.update(repr(sorted(files.spec.record().items())).encode())
    return h.hexdigest()[:16]


# ---- a photo set as a training source ----------------------------------------------------------


def _listed(cfg: DataConfig, path: Path) -> tuple[list[str], list[str], list[str] | None, Path]:
    """Files, their class names and (a manifest's) splits, and the folder they are named from."""
    if cfg.source == "csv":
        m = read_manifest(path)
        return m.paths, m.labels, m.splits, path.parent
    if not path.is_dir():
        raise UserError(
            Problem(
                f"{path} is not a folder; source 'images' expects a folder of class sub-folders",
                ("data", "path"),
            )
        )
    files, names, classes = class_folders(path)
    if len(classes) < 2 or not files:
        raise UserError(
            Problem(
                f"{path} holds {len(classes)} class folder(s) and {len(files)} image(s); "
                "expected a sub-folder of PNG/JPEG images per class, at least 2",
                ("data", "path"),
            )
        )
    return [str(f) for f in files], names, None, path


def _class_order(names: list[str]) -> list[str]:
    """Class names sorted, numerically when they are all numbers (a manifest's 0..9)."""
    unique = sorted(set(names))
    if all(n.lstrip("-").isdigit() for n in unique):
        return sorted(unique, key=int)
    return unique


def load_photos(cfg: DataConfig, path: Path) -> tuple[Dataset, DataConfig]:
    """A photo folder or manifest as a lazy dataset, every file checked first."""
    paths, names, splits, root = _listed(cfg, path)
    tags = list(zip(names, splits or ["train"] * len(names), strict=True))
    paths, tags, skipped, meta = drop_bad(
        paths, tags, cfg.on_bad_image, str(path), cfg.max_image_pixels
    )
    classes = _class_order([n for n, _ in tags])
    if len(classes) < 2:
        raise _bad(f"holds images of {len(classes)} class; at least 2 are needed", str(path))
    if cfg.image_size is None or cfg.channels is None:
        size, channels = first_image_format(Path(paths[0]), cfg.max_image_pixels)
        cfg = cfg.model_copy(
            update={"image_size": cfg.image_size or size, "channels": cfg.channels or channels}
        )
    files = ImageFiles(paths, Decode.of(cfg), root=root, meta=meta)
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.array([lookup[n] for n, _ in tags], dtype=np.int64)
    part = np.array([t for _, t in tags])
    ds = Dataset(
        files,
        y,
        classes,
        1 / 255,
        origin=str(path),
        fingerprint=files_fingerprint(files, y, classes),
        skipped=skipped,
        decode=files.spec.record(),
    )
    if splits is None:
        return ds, cfg
    ds.x, ds.y = subset(files, np.flatnonzero(part == "train")), y[part == "train"]
    if (part == "validation").any():
        ds.x_val, ds.y_val = (
            subset(files, np.flatnonzero(part == "validation")),
            y[part == "validation"],
        )
    if (part == "test").any():
        ds.x_test, ds.y_test = subset(files, np.flatnonzero(part == "test")), y[part == "test"]
    return ds, cfg
