"""`cnnrun.data.photos`: photo folders and manifests at real sizes, without TensorFlow: a
phone's rotated photo stands up, each resize mode fits another aspect ratio, every colour mode
becomes what `channels` asks, every bad file is found by the pre-flight before training, a
manifest's `split` column is honoured, and a copied folder keeps its fingerprint."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnrun.config.checks import cross_field_problems
from cnnrun.config.schema import Config, DataConfig
from cnnrun.data.cache import cache_parts, disk_cache
from cnnrun.data.images import Decode, decode, first_image_format
from cnnrun.data.lazy import take
from cnnrun.data.photos import ImageFiles, read_manifest
from cnnrun.data.preflight import check_file, preflight
from cnnrun.data.sources import load_dataset
from cnnrun.data.splits import split_dataset
from cnnrun.errors import UserError
from tests.support.photos import (
    CLASSES,
    RESIZE_CHECKS,
    manifest,
    photo,
    photo_folder,
    wide_picture,
)

ORIENTATION = 0x0112


def test_a_phones_rotated_photo_gives_the_upright_pixels(tmp_path: Path):
    # portrait, as a person sees it: red grows to the right, green downwards
    yy, xx = np.mgrid[0:40, 0:24]
    x = np.stack([xx * 10, yy * 6, 255 - yy * 6], axis=-1).astype(np.uint8)
    upright = Image.fromarray(x)
    upright.save(tmp_path / "upright.jpg", quality=95, subsampling=0)
    # what a phone writes: the sensor's landscape pixels and "rotate 90 clockwise to view"
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    sensor = upright.rotate(90, expand=True)
    sensor.save(tmp_path / "tagged.jpg", quality=95, subsampling=0, exif=exif)
    spec = Decode((40, 24), 3)
    a = decode(str(tmp_path / "upright.jpg"), spec).astype(int)
    b = decode(str(tmp_path / "tagged.jpg"), spec).astype(int)
    assert a.shape == b.shape == (40, 24, 3)
    assert np.abs(a - b).max() <= 4  # re-encoding a rotated JPEG changes a few levels
    assert np.abs(a - np.asarray(sensor, dtype=int).transpose(1, 0, 2)).max() > 100

    assert first_image_format(tmp_path / "tagged.jpg") == ((40, 24), 3)


@pytest.mark.parametrize(("resize", "check"), RESIZE_CHECKS)
def test_each_resize_mode_fits_another_aspect_ratio(tmp_path: Path, resize, check):
    x = decode(str(wide_picture(tmp_path / "wide.png")), Decode((20, 20), 3, resize=resize))
    assert x.shape == (20, 20, 3)
    assert check(x), x[..., 0]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_colour_mode_becomes_what_channels_asks(tmp_path: Path, mode: str, channels: int):
    base = photo(1, seed=2, size=(12, 10))
    if mode == "I;16":
        grey = np.asarray(base.convert("L"), dtype=np.uint16) * 257
        im = Image.fromarray(grey)
    elif mode == "P":
        im = base.quantize(16)
    else:
        im = base.convert(mode)
    im.save(tmp_path / "x.png")
    x = decode(str(tmp_path / "x.png"), Decode((10, 12), channels))
    assert x.shape == (10, 12, channels) and x.dtype == np.uint8
    if mode == "I;16":  # scaled by its own depth, not clipped at 255
        eight = np.asarray(base.convert("L"), dtype=int)
        assert np.abs(x[..., 0].astype(int) - eight).max() <= 1


def _bad_files(folder: Path) -> dict[str, str]:
    """One file of each bad class, named by what the pre-flight must say of it."""
    folder.mkdir(parents=True, exist_ok=True)
    photo(0, 1, (64, 64)).save(folder / "whole.jpg", quality=90)
    data = (folder / "whole.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a picture\n")
    Image.new("L", (6000, 5000)).save(folder / "bomb.png")  # 30 Mpixels in a tiny file
    png = folder / "cut.png"
    photo(1, 2, (64, 64)).save(png)
    png.write_bytes(png.read_bytes()[:-40])
    return {
        "truncated.jpg": "truncated",
        "empty.jpg": "empty file",
        "text.jpg": "not an image",
        "bomb.png": "over the pixel limit",
        "cut.png": "truncated",
    }


def test_the_preflight_finds_every_bad_file_from_headers_and_ends(tmp_path: Path):
    expected = _bad_files(tmp_path)
    paths = sorted(str(p) for p in tmp_path.iterdir())
    bad = dict(preflight(paths, max_pixels=20_000_000))
    assert {Path(p).name for p in bad} == set(expected)
    for path, reason in bad.items():
        assert expected[Path(path).name] in reason, (path, reason)
    assert check_file(str(tmp_path / "whole.jpg")) is None
    assert check_file(str(tmp_path / "gone.jpg")) == "no such file"


def test_a_folder_with_bad_files_is_refused_naming_all_of_them(tmp_path: Path):
    folder = photo_folder(tmp_path / "photos", per_class=3)
    expected = _bad_files(folder / "red")
    cfg = DataConfig(source="images", path="photos", image_size=16, channels=3)
    with pytest.raises(UserError) as e:
        load_dataset(cfg, tmp_path)
    text = str(e.value)
    assert "5 of 15 image files cannot be used" in text
    assert all(name in text for name in expected), text
    assert "on_bad_image: skip" in text

    skip = cfg.model_copy(update={"on_bad_image": "skip"})
    ds, _ = load_dataset(skip, tmp_path)
    assert len(ds.y) == 10 and {Path(f).name for f, _ in ds.skipped} == set(expected)


def test_more_than_twenty_bad_files_are_counted_not_listed(tmp_path: Path):
    folder = photo_folder(tmp_path / "photos", per_class=2)
    for i in range(25):
        (folder / "blue" / f"bad{i:02d}.jpg").write_bytes(b"")
    with pytest.raises(UserError) as e:
        load_dataset(DataConfig(source="images", path="photos", image_size=8), tmp_path)
    assert "25 of 31 image files" in str(e.value) and "5 more not shown" in str(e.value)
    assert len(e.value.problems) == 21


def test_a_manifests_split_column_is_honoured(tmp_path: Path):
    photo_folder(tmp_path / "photos", per_class=6)
    rows = []
    for name in CLASSES:
        for i in range(6):
            split = ["train", "train", "train", "val", "test", "train"][i]
            rows.append((f"photos/{name}/{i:03d}.jpg", name, split))
    csv_path = manifest(tmp_path, rows)
    cfg = DataConfig(
        source="csv", path="labels.csv", image_size=[16, 20], channels=3, decoder="pillow"
    )
    ds, resolved = load_dataset(cfg, tmp_path)
    s = split_dataset(ds, resolved, seed=1)
    assert s.counts == {"train": 12, "validation": 3, "test": 3}
    assert s.class_names == sorted(CLASSES)
    # the validation rows are exactly the ones the manifest says, in its order
    val_files = [Path(ds.x.base.paths[i]).name for i in s.x_val.rows]
    assert val_files == ["003.jpg"] * 3
    assert take(s.x_val, [0]).shape == (1, 16, 20, 3)
    assert read_manifest(csv_path).splits[3] == "validation"
    # and the whole config takes a manifest's size and channels, as an image folder's
    whole = Config.model_validate({"data": cfg.model_dump(), "model": {"layers": ["flatten"]}})
    assert cross_field_problems(whole) == []


def test_manifest_errors_name_the_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\na.jpg,cat\n")
    with pytest.raises(UserError, match="a manifest needs a header row with 'path' and 'label'"):
        read_manifest(bad)
    bad.write_text("path,label,split\na.jpg,cat,train\nb.jpg,dog,holdout\n,cat,test\n")
    with pytest.raises(UserError) as e:
        read_manifest(bad)
    assert f"{bad}:3" in str(e.value) and "'holdout'" in str(e.value)
    assert f"{bad}:4" in str(e.value) and "needs a path and a label" in str(e.value)


def test_a_copied_folder_keeps_its_fingerprint_and_a_changed_one_does_not(tmp_path: Path):
    folder = photo_folder(tmp_path / "a", per_class=4)
    cfg = DataConfig(source="images", path="a", image_size=16, channels=3)
    first = load_dataset(cfg, tmp_path)[0].fingerprint
    shutil.copytree(folder, tmp_path / "b")  # new modification times, another root
    os.utime(tmp_path / "b" / "red" / "000.jpg", (1, 1))
    copy = load_dataset(cfg.model_copy(update={"path": "b"}), tmp_path)[0].fingerprint
    assert first == copy
    photo(2, seed=99).save(folder / "red" / "000.jpg", quality=95)  # another picture
    assert load_dataset(cfg, tmp_path)[0].fingerprint != first
    ds = load_dataset(cfg.model_copy(update={"resize": "crop"}), tmp_path)[0]
    assert ds.fingerprint != first  # another decoding is other data


def test_caches_hold_the_pixels_the_files_give(tmp_path: Path):
    folder = photo_folder(tmp_path / "photos", per_class=4)
    files = ImageFiles(
        [str(p) for p in sorted(folder.rglob("*.jpg"))],
        Decode((16, 16), 3, decoder="pillow"),  # the core's own decoder; the engine's is tested
        root=folder,
    )
    everything = files.read(np.arange(len(files)))
    for mode in ("memory", "disk"):
        out, record = cache_parts({"x_train": files}, mode, tmp_path / "cache", "fp")
        assert record["mode"] == mode
        assert np.array_equal(take(out["x_train"], np.arange(len(files))), everything)
    out, record = cache_parts({"x_train": files}, "none", None, "fp")
    assert out["x_train"] is files and record["mode"] == "none"
    out, record = cache_parts({"x_train": files}, "auto", None, "fp")
    assert record["mode"] == "memory" and "512 MiB" in record["reason"]


def test_a_disk_cache_left_half_written_by_a_killed_run_is_written_again(tmp_path: Path):
    folder = photo_folder(tmp_path / "photos", per_class=2)
    paths = [str(p) for p in sorted(folder.rglob("*.jpg"))]
    files = ImageFiles(paths, Decode((8, 8), 3, decoder="pillow"))
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = cache / ".images-key.999999999.tmp.npy"  # no such process
    dead.write_bytes(b"\x93NUMPY half")
    arr = disk_cache(files, cache, "key")
    assert not dead.exists() and (cache / "images-key.npy").exists()
    assert np.array_equal(take(arr, np.arange(len(files))), files.read(np.arange(len(files))))
    (cache / "images-key.npy").write_bytes(b"garbage")  # torn by hand: rebuilt, not trusted
    again = disk_cache(files, cache, "key")
    assert np.array_equal(take(again, [0]), files.read(np.array([0])))


def test_a_large_phone_photo_decodes_reduced_yet_like_a_full_decode(tmp_path: Path):
    from PIL import ImageOps

    yy, xx = np.mgrid[0:800, 0:480]
    x = np.stack([xx * 255 // 480, yy * 255 // 800, (xx + yy) % 256], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(x).rotate(90, expand=True).save(tmp_path / "p.jpg", quality=95, exif=exif)
    got = decode(str(tmp_path / "p.jpg"), Decode((80, 48), 3)).astype(int)
    with Image.open(tmp_path / "p.jpg") as im:  # decoded whole, then resized
        full = np.asarray(ImageOps.exif_transpose(im).resize((48, 80), Image.Resampling.BILINEAR))
    assert got.shape == (80, 48, 3)
    assert np.abs(got - full.astype(int)).mean() < 4
