"""`cnnrun.data.sources`: the built-in sets load fast and offline, a class subset keeps the
order given, each kind of source (npz, a folder of images) trains, an unreadable file says
why, and a `keras` source without network or cache fails fast and plainly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnrun.config.schema import DataConfig
from cnnrun.data.sources import load_dataset, select_classes
from cnnrun.errors import UserError
from tests.support.data import LAYERS, synthetic


def test_builtin_sets_load_fast_and_offline():
    for name, shape, n, n_test in (
        ("digits", (8, 8, 1), 1438, 359),
        ("mnist5k", (28, 28, 1), 4000, 1000),
    ):
        t = time.perf_counter()
        ds, _ = load_dataset(DataConfig(source=name), Path("."))
        assert time.perf_counter() - t < 1.0
        assert ds.input_shape == shape and len(ds.y) == n and len(ds.y_test) == n_test
        assert ds.class_names == [str(i) for i in range(10)]
    ds, _ = load_dataset(DataConfig(source="mnist5k"), Path("."))
    assert np.bincount(np.concatenate([ds.y, ds.y_test])).tolist() == [500] * 10
    assert ds.scale == 1 / 255


def test_class_subset_relabels_in_the_given_order():
    ds, _ = load_dataset(DataConfig(source="digits", classes=[7, "3", 1]), Path("."))
    assert ds.class_names == ["7", "3", "1"]
    assert set(ds.y.tolist()) == {0, 1, 2} and set(ds.y_test.tolist()) == {0, 1, 2}
    with pytest.raises(UserError, match="no class 'eleven'"):
        select_classes(ds, ["eleven", "7"])


def test_npz_source_trains(cli, tmp_path: Path):
    x, y = synthetic()
    names = np.array(["circle", "square", "star"])
    np.savez(tmp_path / "shapes.npz", x=x, y=y, class_names=names)
    cfg = tmp_path / "npz.yaml"
    cfg.write_text(
        "data: {source: npz, path: shapes.npz, test_split: 0.2}\n" + LAYERS.format(units=3)
    )
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.stderr
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())
    assert summary["data"]["class_names"] == ["circle", "square", "star"]
    assert summary["data"]["counts"] == {"train": 39, "validation": 9, "test": 12}  # 3 per class


def test_npz_errors(tmp_path: Path):
    np.savez(tmp_path / "flat.npz", x=np.zeros((10, 64)), y=np.zeros(10))
    with pytest.raises(UserError, match=r"shape \(10, 64\)"):
        load_dataset(DataConfig(source="npz", path="flat.npz"), tmp_path)
    np.savez(tmp_path / "nox.npz", images=np.zeros((10, 8, 8)))
    with pytest.raises(UserError, match="no array named x or y"):
        load_dataset(DataConfig(source="npz", path="nox.npz"), tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read as .npz"):
        load_dataset(DataConfig(source="npz", path="junk.npz"), tmp_path)


def test_images_source_resizes_and_converts(cli, tmp_path: Path):
    x, y = synthetic(n=30, size=12, channels=3)
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = tmp_path / "imgs" / ["cat", "dog", "fox"][label]
        folder.mkdir(parents=True, exist_ok=True)
        # different sizes and modes on disk: they must all come out 16x16 grey
        im = Image.fromarray(img)
        im = im.resize((12 + i % 3, 12)) if i % 2 else im.convert("L")
        im.save(folder / f"{i}.{'png' if i % 2 else 'jpg'}")
    cfg = DataConfig(source="images", path="imgs", image_size=16, channels=1)
    ds, resolved = load_dataset(cfg, tmp_path)
    assert ds.x.shape == (30, 16, 16, 1) and ds.class_names == ["cat", "dog", "fox"]
    assert ds.x.dtype == np.uint8 and resolved.path == str(tmp_path / "imgs")

    config = tmp_path / "images.yaml"
    config.write_text("data: {source: images, path: imgs}\n" + LAYERS.format(units=3))
    r = cli("validate", config, "--json")
    assert json.loads(r.stdout)["results"][0]["input_shape"] == [12, 12, 1]  # cat/0.jpg, grey
    r = cli("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr

    (tmp_path / "imgs" / "cat" / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(UserError, match="broken.png: not an image"):
        load_dataset(cfg, tmp_path)


def test_keras_source_offline_is_a_quick_plain_error(cli, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    import keras

    def no_network(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    config = tmp_path / "k.yaml"
    config.write_text("data: {source: keras, dataset: mnist}\n" + LAYERS.format(units=10))
    t = time.perf_counter()
    r = cli("train", config, "--runs-dir", tmp_path / "runs")
    assert r.code == 2
    assert "keras dataset 'mnist' is not in Keras's cache" in r.stderr
    assert "Traceback" not in r.stderr and time.perf_counter() - t < 30
    assert not (tmp_path / "runs").exists()
