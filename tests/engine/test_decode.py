"""`cnnrun.engine.decode`: TensorFlow's ops give, at a file's own size, the pixels Pillow gives
for every format and colour mode; a phone's rotated photo stands up; a large JPEG decodes at
libjpeg's reduced scale as Pillow's draft does; each resize mode fits another aspect ratio."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnrun.data.images import ORIENTATION, Decode, ImageFiles, decode
from cnnrun.data.preflight import survey
from tests.support.photos import RESIZE_CHECKS, photo, wide_picture

pytest.importorskip("tensorflow")

from cnnrun.engine.decode import tensorflow_decoded


def _read(paths: list[Path], spec: Decode) -> np.ndarray:
    """The files through the engine's decoder, their headers read as the pre-flight does."""
    names = [str(p) for p in paths]
    _, meta = survey(names)
    files = tensorflow_decoded(ImageFiles(names, spec, meta=meta))
    return files.read(np.arange(len(names)))


FORMATS = [
    ("jpg", "RGB"),
    ("jpg", "L"),
    ("png", "RGBA"),
    ("png", "P"),
    ("png", "L"),
    ("png", "1"),
    ("gif", "P"),
    ("bmp", "RGB"),
    ("webp", "RGB"),
]


@pytest.mark.parametrize("channels", [3, 1])
def test_at_its_own_size_a_file_gives_pillows_pixels_in_every_format(tmp_path, channels):
    base = photo(2, seed=5, size=(30, 20))
    paths = []
    for fmt, mode in FORMATS:
        path = tmp_path / f"{mode}.{fmt}"
        extra = {"quality": 95} if fmt == "jpg" else {"lossless": True} if fmt == "webp" else {}
        base.convert(mode).save(path, **extra)
        paths.append(path)
    got = _read(paths, Decode((20, 30), channels))
    pillow = Decode((20, 30), channels, decoder="pillow")
    for path, x in zip(paths, got, strict=True):
        assert np.array_equal(x, decode(str(path), pillow)), path.name


def test_a_phones_rotated_photo_stands_up(tmp_path: Path):
    yy, xx = np.mgrid[0:40, 0:24]
    x = np.stack([xx * 10, yy * 6, 255 - yy * 6], axis=-1).astype(np.uint8)
    Image.fromarray(x).save(tmp_path / "upright.jpg", quality=95, subsampling=0)
    for tag, turn in ((6, 90), (8, -90), (3, 180)):
        exif = Image.Exif()
        exif[ORIENTATION] = tag
        sensor = Image.fromarray(x).rotate(turn, expand=True)
        sensor.save(tmp_path / f"tagged{tag}.jpg", quality=95, subsampling=0, exif=exif)
    names = ["upright.jpg", "tagged6.jpg", "tagged8.jpg", "tagged3.jpg"]
    got = _read([tmp_path / n for n in names], Decode((40, 24), 3)).astype(int)
    for i in range(1, 4):
        assert np.abs(got[0] - got[i]).max() <= 4, names[i]  # re-encoding changes a few


def test_every_exif_orientation_turns_as_pillow_turns_it(tmp_path: Path):
    x = np.random.default_rng(0).integers(0, 256, (5, 3, 3), dtype=np.uint8)
    paths = []
    for tag in range(1, 9):
        exif = Image.Exif()
        exif[ORIENTATION] = tag
        paths.append(tmp_path / f"tag{tag}.png")  # lossless: every pixel must match
        Image.fromarray(x).save(paths[-1], exif=exif)
    spec = Decode((5, 5), 3, resize="pad")  # upright 5x3 and 3x5 both fit without resizing
    got = _read(paths, spec)
    for i, path in enumerate(paths):
        assert np.array_equal(got[i], decode(str(path), replace(spec, decoder="pillow"))), path


def test_a_large_jpeg_decodes_at_a_reduced_scale_as_pillows_draft(tmp_path: Path):
    rng = np.random.default_rng(0)
    big = (rng.random((400, 640, 3)) * 255).astype(np.uint8)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=90)
    with Image.open(tmp_path / "big.jpg") as im:
        im.draft("RGB", (160, 100))  # libjpeg's 1/4: 160x100, the size asked for
        drafted = np.asarray(im.convert("RGB"))
    got = _read([tmp_path / "big.jpg"], Decode((100, 160), 3))[0]
    assert drafted.shape == got.shape and np.array_equal(got, drafted)


@pytest.mark.parametrize(("resize", "check"), RESIZE_CHECKS)
def test_each_resize_mode_fits_another_aspect_ratio(tmp_path: Path, resize, check):
    x = _read([wide_picture(tmp_path / "wide.png")], Decode((20, 20), 3, resize=resize))[0]
    assert x.shape == (20, 20, 3)
    assert check(x), x[..., 0]
    shrunk = _read([tmp_path / "wide.png"], Decode((10, 20), 3, resize=resize))[0].astype(int)
    like = decode(str(tmp_path / "wide.png"), Decode((10, 20), 3, resize=resize)).astype(int)
    assert np.abs(shrunk - like).max() <= 2  # Pillow's own resize, within a level or two
