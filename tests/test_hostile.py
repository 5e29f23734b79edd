"""Hostile input, by class: each gets one plain line naming the file or field, exit 2, no
traceback, nothing written, and no hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import CONFIGS, ROOT

DIGITS = CONFIGS / "digits.yaml"
HEAD = "model: {layers: [flatten, {dense: {units: 2, activation: softmax}}]}\n"


def refused(r, *words: str) -> None:
    assert r.code == 2, (r.code, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: "), r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


# ---- 1. user text is never console markup ------------------------------------------------------


@pytest.mark.parametrize("name", ["a[/b].yaml", "[bold]x[/bold].yaml", "[red].yaml"])
def test_paths_and_keys_with_brackets_are_printed_as_typed(name, cli, tmp_path: Path):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('data: {source: digits}\n"[/x]": 1\n"[b]y": 2\n' + HEAD)
    r = cli("validate", path)
    refused(r, str(path), "'[/x]'", "'[b]y'")
    r = cli("validate", tmp_path / "[missing].yaml")
    refused(r, "[missing].yaml: no such file")


def test_a_set_key_keeps_its_index_in_the_message(cli):
    refused(cli("validate", DIGITS, "--set", "model.layers[-1].x=1"), "layers[-1]")
    refused(cli("validate", DIGITS, "--set", "model.layers[99].x=1"), "layers[99]")


# ---- 2. small inputs that would exhaust resources ------------------------------------------------


def test_a_yaml_alias_bomb_is_refused(cli, tmp_path: Path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join([*lines, "data: {source: digits}", "model: {layers: *a8}"]) + "\n")
    refused(cli("validate", bomb), "expands to more than", "aliases")


def test_huge_and_deep_configs_are_refused(cli, tmp_path: Path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_100_000 + "\n")
    refused(cli("validate", big), "a config is at most")
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(cli("validate", deep), "nests too deeply")


@pytest.mark.parametrize(
    "override, words",
    [
        ("model.layers[0].conv2d.filters=1000000000000", ["outputs", "values per image"]),
        ("model.layers[6].dense.units=100000000", []),  # wrong units and far too large
        ("model.layers[2].conv2d.filters=10000000", ["parameters", "model.max_params"]),
    ],
)
def test_networks_too_large_to_build_are_refused_by_validate(override, words, cli):
    refused(cli("validate", DIGITS, "--set", override), *words)


def test_an_image_bomb_is_refused_before_decoding(cli, tmp_path: Path):
    from PIL import Image

    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        Image.new("L", (8, 8)).save(folder / c / "0.png")
    Image.new("L", (6000, 5000)).save(folder / "b" / "big.png")  # 30 Mpixels, tiny file
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{source: images, path: {folder}, image_size: [8, 8]}}\n" + HEAD)
    refused(cli("train", cfg, "--runs-dir", tmp_path / "runs"), "big.png", "30,000,000 pixels")
    assert not (tmp_path / "runs").exists()
    ok = cli("validate", cfg, "--set", "data.max_image_pixels=40000000")
    assert ok.code == 0, ok.stderr


# ---- 3. paths that are not regular files ---------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_and_devices_are_named_not_opened(tmp_path: Path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{source: npz, path: {fifo}}}\n" + HEAD)
    for args, words in (
        (["validate", str(fifo)], "is a FIFO (named pipe), expected a YAML file"),
        (["validate", "/dev/zero"], "is a character device"),
        (["validate", str(cfg)], "data.path: is a FIFO"),
        (["predict", "--weights", str(fifo), "digits:test"], "is a FIFO"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "cnnrun", *args], capture_output=True, text=True, timeout=30
        )
        assert r.returncode == 2 and words in r.stderr, r.stderr


def test_a_folder_as_weights_and_a_file_as_runs_dir(cli, tmp_path: Path):
    refused(cli("predict", "--weights", tmp_path, "digits:test"), "is a folder, expected a weights")
    (tmp_path / "f").write_text("")
    refused(cli("train", DIGITS, "--runs-dir", tmp_path / "f"), "is a file, expected a folder")


# ---- 4. numbers that are not sane ----------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        "train.optimizer.learning_rate=.inf",
        "model.layers[4].dropout.rate=.nan",
        "model.layers[1].batchnorm.epsilon=.inf",
        "data.validation_split=-.inf",
    ],
)
def test_infinite_and_nan_values_are_refused(override, cli):
    refused(cli("validate", DIGITS, "--set", override), "expected a")


def _npz_config(tmp_path: Path, **arrays) -> Path:
    np.savez(tmp_path / "d.npz", **arrays)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{source: npz, path: {tmp_path / 'd.npz'}}}\n" + HEAD)
    return cfg


def test_nan_fractional_and_complex_data_are_refused(cli, tmp_path: Path):
    x = np.random.rand(20, 8, 8).astype("float32")
    y = (np.arange(20) % 2).astype("float64")
    refused(cli("validate", _npz_config(tmp_path, x=x, y=np.r_[y[:-1], np.nan])), "not whole")
    refused(cli("validate", _npz_config(tmp_path, x=x, y=y + 0.5)), "not whole numbers")
    refused(cli("validate", _npz_config(tmp_path, x=x.astype("complex64"), y=y)), "complex64")
    refused(cli("validate", _npz_config(tmp_path, x=x > 0.5, y=y)), "bool")
    assert cli("validate", _npz_config(tmp_path, x=x, y=y)).code == 0  # whole floats are fine


def test_hdf5_word_labels_are_class_names(cli, tmp_path: Path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = np.random.randint(0, 255, (20, 8, 8), dtype="uint8")
        f["y"] = np.array([b"five", b"six"] * 10)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{source: hdf5, path: {tmp_path / 'd.h5'}}}\n" + HEAD)
    r = cli("validate", cfg, "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["classes"] == ["five", "six"]


def test_a_run_name_too_long_is_refused_before_tensorflow(cli, tmp_path: Path):
    refused(cli("train", DIGITS, "--name", "x" * 300, "--runs-dir", tmp_path), "--name", "300")
    assert not any(tmp_path.iterdir())


# ---- 5. weights metadata that lies ---------------------------------------------------------------


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """A real cnnrun weights file, from the committed v0.1 run."""
    return ROOT / "tests" / "fixtures" / "v0.1-run" / "best.weights.h5"


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("cnnrun_config", "{not json", "is not JSON"),
        ("cnnrun_class_names", "5", "expected a list of class names"),
        ("cnnrun_class_names", "[1, 2]", "expected a list of class names"),
        ("cnnrun_input_shape", "[8, -8, 1]", "[height, width, channels]"),
        ("cnnrun_preprocessing", '{"scale": -1}', "positive finite 'scale'"),
        ("cnnrun_epoch", -3, "an epoch number"),
    ],
)
def test_lying_metadata_is_refused_naming_the_file(key, value, words, weights_file, cli, tmp_path):
    lie = tmp_path / "lie.weights.h5"
    lie.write_bytes(weights_file.read_bytes())
    with h5py.File(lie, "a") as f:
        f.attrs[key] = value
    refused(cli("predict", "--weights", lie, "digits:test"), str(lie), key, words)


# ---- 6. images read at their own bit depth -------------------------------------------------------


def test_16_bit_greys_are_scaled_by_their_depth_not_clipped(tmp_path: Path):
    from PIL import Image

    from cnnrun.data.images import read_image

    grey16 = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    Image.fromarray(np.rint(grey16 / 257).astype(np.uint8)).save(tmp_path / "g8.png")
    a = read_image(tmp_path / "g16.png", (64, 64), 1)
    b = read_image(tmp_path / "g8.png", (64, 64), 1)
    assert a.max() == 255 and np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ---- 7. every refusal comes before the first byte written ----------------------------------


def test_a_report_folder_that_is_a_file_refuses_before_any_output(cli, tmp_path: Path):
    run = ROOT / "tests" / "fixtures" / "v0.1-run"
    (tmp_path / "report").write_text("mine")
    out = tmp_path / "p.csv"
    r = cli("predict", "--run", run, "digits:test", "--report", tmp_path / "report", "-o", out)
    refused(r, "report: is a file, expected a folder for --report")
    assert not out.exists() and (tmp_path / "report").read_text() == "mine"


# ---- 8. one process at a time trains a run -------------------------------------------------------


def test_a_second_resume_of_a_run_in_training_is_refused(cli, tmp_path: Path):
    import shutil

    from cnnrun.runs.locks import run_lock

    run = tmp_path / "run"
    shutil.copytree(ROOT / "tests" / "fixtures" / "v0.1-run", run)
    with run_lock(run):
        r = cli("train", "--resume", run, "--epochs", "3")
    refused(r, "is being trained by process", str(os.getpid()))
    assert 'epochs_run": 2' in (run / "summary.json").read_text()


def test_a_full_disk_during_a_checkpoint_leaves_a_true_summary_and_no_temp_file(
    cli, tiny_config, tmp_path: Path, monkeypatch
):
    import errno

    from cnnrun.engine.predict import load_model
    from cnnrun.runs import weights

    calls = {"n": 0}
    original = weights.add_metadata

    def full(path, metadata):  # the second epoch's weights file hits a full disk
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 0's best file, epoch 1's last file, then this one
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, metadata)

    monkeypatch.setattr(weights, "add_metadata", full)
    r = cli("train", tiny_config(epochs=3), "--runs-dir", tmp_path / "runs")
    assert r.code == 1 and "No space left on device" in r.stderr and "Traceback" not in r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["reason"]
    assert not [p.name for p in run.iterdir() if ".tmp-cnnrun-" in p.name]
    load_model(run / "best.weights.h5")


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
