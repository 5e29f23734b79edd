"""`cnnrun.data.hdf5`: an HDF5 source streams batches (never the whole set), and word labels
are class names that train and predict."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from cnnrun.config.schema import DataConfig
from cnnrun.data.hdf5 import H5Images
from cnnrun.data.sources import load_dataset
from cnnrun.data.splits import split_dataset, stratified_split
from cnnrun.errors import UserError
from tests.support.data import LAYERS, synthetic

HEAD = "model: {layers: [flatten, {dense: {units: 2, activation: softmax}}]}\n"


def test_hdf5_source_streams_batches(cli, tmp_path: Path, monkeypatch):
    x, y = synthetic(n=80, size=10)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["images"] = x[..., 0]  # (N, H, W): a channel axis is added
        f["labels"] = y
    cfg = DataConfig(source="hdf5", path="data.h5", x_dataset="images", y_dataset="labels")
    ds, _ = load_dataset(cfg, tmp_path)
    assert isinstance(ds.x, H5Images) and ds.input_shape == (10, 10, 1)
    s = split_dataset(ds, cfg, seed=3)
    assert np.array_equal(
        s.x_val.read(np.arange(len(s.y_val))), x[np.sort(stratified_split(y, 0.2, 3)[1])]
    )

    reads = []
    original = H5Images.read

    def counting(self, index):
        reads.append(len(index))
        return original(self, index)

    monkeypatch.setattr(H5Images, "read", counting)
    config = tmp_path / "h5.yaml"
    config.write_text(
        "data: {source: hdf5, path: data.h5, x_dataset: images, "
        "y_dataset: labels}\n" + LAYERS.format(units=3)
    )
    r = cli("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    assert reads and max(reads) <= 16  # read a batch at a time, never the whole set

    with pytest.raises(UserError, match="no dataset 'x'"):
        load_dataset(DataConfig(source="hdf5", path="data.h5"), tmp_path)


def test_hdf5_word_labels_are_class_names(cli, tmp_path: Path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = np.random.randint(0, 255, (20, 8, 8), dtype="uint8")
        f["y"] = np.array([b"five", b"six"] * 10)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{source: hdf5, path: {tmp_path / 'd.h5'}}}\n" + HEAD)
    r = cli("validate", cfg, "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["classes"] == ["five", "six"]


@pytest.mark.slow
def test_hdf5_word_labels_train_and_predict(cli, tmp_path: Path):
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = rng.integers(0, 255, (60, 8, 8), dtype="uint8")
        f["y"] = np.array([b"five", b"six", b"seven"] * 20)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"data: {{source: hdf5, path: {tmp_path / 'd.h5'}}}\n"
        "model: {layers: [flatten, {dense: {units: 3, activation: softmax}}]}\n"
        "train: {epochs: 1}\n"
    )
    assert cli("train", cfg, "--runs-dir", tmp_path / "runs", "-q").code == 0
    (run,) = (tmp_path / "runs").iterdir()
    r = cli("predict", "--run", run, tmp_path / "d.h5", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["scores"]["samples"] == 60
    assert {p["label"] for p in doc["predictions"]} == {"five", "six", "seven"}
