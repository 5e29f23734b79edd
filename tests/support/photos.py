"""Photo folders and manifests the tests write: tiny RGB JPEGs and PNGs whose class is in
their colour, made on the fly, and the configs that train on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("red", "green", "blue")

PHOTO_LAYERS = """\
model:
  layers:
    - conv2d: {filters: 4, kernel_size: 3, padding: same, activation: relu}
    - globalavgpool2d: {}
    - dense: {units: 3, activation: softmax}
train: {epochs: 2, batch_size: 8, precision: float32}
"""


def photo(label: int, seed: int, size: tuple[int, int] = (20, 16)) -> Image.Image:
    """A noisy RGB picture (width, height) whose brightest channel is its class."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 90, (size[1], size[0], 3), dtype=np.uint8)
    x[..., label] += 150
    return Image.fromarray(x)


def photo_folder(root: Path, per_class: int = 8, fmt: str = "jpg") -> Path:
    """`root/<class>/<i>.<fmt>`: `per_class` photos of each of the three classes."""
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            photo(c, seed=100 * c + i).save(root / name / f"{i:03d}.{fmt}", quality=95)
    return root


def manifest(folder: Path, rows: list[tuple[str, str, str | None]]) -> Path:
    """A `path,label[,split]` CSV in `folder` (paths relative to it)."""
    split = any(s is not None for _, _, s in rows)
    lines = ["path,label,split" if split else "path,label"]
    lines += [",".join(r if split else r[:2]) for r in rows]  # type: ignore[arg-type]
    out = folder / "labels.csv"
    out.write_text("\n".join(lines) + "\n")
    return out


def photo_config(path: Path, data: str, extra: str = "") -> Path:
    """A config training the small photo network on `data` (a YAML flow mapping's body)."""
    path.write_text(f"seed: 3\ndata: {{{data}}}\n{PHOTO_LAYERS}{extra}")
    return path


def wide_picture(path: Path) -> Path:
    """A 40x20 picture: a white left half, a grey right half."""
    x = np.zeros((20, 40, 3), np.uint8)
    x[:, :20] = 255
    x[:, 20:] = 128
    Image.fromarray(x).save(path)
    return path


# (resize mode, what `wide_picture` fitted into 20x20 must look like), for each decoder
RESIZE_CHECKS = [
    # the whole picture squeezed: white left, grey right
    ("stretch", lambda x: x[:, :8].min() == 255 and x[:, -8:].max() == 128),
    # the centre square: half white, half grey, all of its height
    ("crop", lambda x: x[:, 0].min() == 255 and x[:, -1].max() == 128),
    # letterboxed: black bars above and below, the picture in the middle
    ("pad", lambda x: x[:4].max() == 0 and x[-4:].max() == 0 and x[10, 0, 0] == 255),
]
