"""`cnnrun predict`: from the weights file alone, on every kind of input; bad inputs exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TINY, run_cli
from PIL import Image

from cnnrun.config.schema import DataConfig
from cnnrun.data.sources import load_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One tiny digits run shared by this module's tests."""
    root = tmp_path_factory.mktemp("trained")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY.format(epochs=3, extra=""))
    r = run_cli("train", cfg, "--runs-dir", root / "runs", "--quiet")
    assert r.code == 0, r.stderr
    (run,) = (root / "runs").iterdir()
    return run


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def digits_test():
    ds, _ = load_dataset(DataConfig(source="digits"), Path("."))
    return ds.x_test, ds.y_test


def test_builtin_split_gives_the_recorded_test_accuracy(trained: Path, cli):
    summary = json.loads((trained / "summary.json").read_text())
    r = cli("predict", "--run", trained, "digits:test", "--format", "json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["predictions"]) == 359
    assert doc["scores"]["accuracy"] == pytest.approx(summary["test"]["test_accuracy"], abs=1e-6)
    assert f"accuracy {doc['scores']['accuracy']:.4f} on 359 labelled inputs" in r.stderr
    assert "warn" not in r.stderr.lower()  # loading the weights prints no warnings


def test_loading_in_a_fresh_process_prints_no_warnings(trained: Path):
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnrun",
            "predict",
            "--run",
            str(trained),
            "digits:test",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stderr == ""
    assert len(rows_of(r.stdout)) == 359


def test_png_files_at_another_size_and_colour_give_the_array_classes(trained, cli, tmp_path):
    x, y = digits_test()
    x, y = x[:12], y[:12]
    np.savez(tmp_path / "arrays.npz", x=x, y=y)
    files = []
    for i, img in enumerate(x[..., 0]):
        # 0..16 -> 0..255, 4x larger, RGB: the model must see its own 8x8 grey digits again
        grey = Image.fromarray((img.astype(np.float64) * 255 / 16).round().astype(np.uint8))
        path = tmp_path / "png" / f"digit_{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        grey.resize((32, 32), Image.Resampling.NEAREST).convert("RGB").save(path)
        files.append(path)
    from_arrays = rows_of(cli("predict", "--run", trained, tmp_path / "arrays.npz").stdout)
    from_files = cli("predict", "--run", trained, *files)
    assert from_files.code == 0, from_files.stderr
    from_folder = rows_of(cli("predict", "--run", trained, tmp_path / "png").stdout)
    assert (
        [r["predicted"] for r in rows_of(from_files.stdout)]
        == [r["predicted"] for r in from_arrays]
        == [r["predicted"] for r in from_folder]
    )
    assert rows_of(from_files.stdout)[0]["input"] == str(files[0])


def test_class_folders_report_and_gate(trained, cli, tmp_path):
    x, y = digits_test()
    for i, (img, label) in enumerate(zip(x[:40], y[:40], strict=True)):
        folder = tmp_path / "classes" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img[..., 0] * 255 // 16).astype(np.uint8)).save(folder / f"{i}.png")
    out, report = tmp_path / "pred.csv", tmp_path / "report"
    r = cli(
        "predict",
        "--run",
        trained,
        tmp_path / "classes",
        "-o",
        out,
        "--report",
        report,
        "--top-k",
        "3",
        "--probs",
    )
    assert r.code == 0, r.stderr
    rows = rows_of(out.read_text())
    assert len(rows) == 40 and {"label", "top_2", "probability_3", "p:0", "p:9"} <= set(rows[0])
    assert abs(sum(float(rows[0][f"p:{c}"]) for c in range(10)) - 1) < 1e-4
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["samples"] == 40 and len(metrics["confusion_matrix"]) == 10
    assert (report / "confusion_matrix.png").stat().st_size > 5000
    r = cli("predict", "--run", trained, tmp_path / "classes", "--fail-under", "accuracy=1.01")
    assert r.code == 1 and "gate failed: accuracy" in r.stderr
    # nothing the user had is overwritten
    r = cli("predict", "--run", trained, tmp_path / "classes", "-o", out)
    assert r.code == 2 and "--overwrite" in r.stderr


def test_npy_and_hdf5_inputs(trained, cli, tmp_path):
    x, y = digits_test()
    np.save(tmp_path / "x.npy", x[:20])
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["images"] = x[:20, ..., 0]
        f["labels"] = y[:20]
    a = rows_of(cli("predict", "--run", trained, tmp_path / "x.npy").stdout)
    r = cli(
        "predict",
        "--run",
        trained,
        tmp_path / "x.h5",
        "--x-dataset",
        "images",
        "--y-dataset",
        "labels",
        "--batch-size",
        "7",
    )
    assert r.code == 0, r.stderr
    assert [row["predicted"] for row in a] == [row["predicted"] for row in rows_of(r.stdout)]
    assert "labelled inputs" in r.stderr


def _keras_model(filters: int):
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_plain_keras_weights_with_config(cli, tmp_path):
    model = _keras_model(4)
    model.save_weights(tmp_path / "seed.weights.h5")  # the hand-written workflow's file
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY.format(epochs=1, extra=""))
    r = cli("predict", "--weights", tmp_path / "seed.weights.h5", "digits:test")
    assert r.code == 2 and "--config" in r.stderr
    with_config = [
        "predict",
        "--weights",
        tmp_path / "seed.weights.h5",
        "--config",
        cfg,
        "digits:test",
    ]
    r = cli(*with_config, "--format", "json")
    assert r.code == 0, r.stderr
    x, _ = digits_test()
    expected = model.predict(x / 16, verbose=0).argmax(axis=1)
    got = [int(p["predicted"]) for p in json.loads(r.stdout)["predictions"]]
    assert got == expected.tolist()
    r = cli(*with_config, "--set", "model.layers[0].conv2d.filters=8")
    assert r.code == 2 and "Traceback" not in r.stderr
    assert "model.layers[0] (conv2d) does not match the file" in r.stderr
    assert "(3, 3, 1, 8)" in r.stderr and "(3, 3, 1, 4)" in r.stderr


def bad_inputs(trained: Path, tmp: Path) -> dict[str, tuple[list, str]]:
    (tmp / "text.weights.h5").write_text("not hdf5")
    with h5py.File(tmp / "empty.weights.h5", "w") as f:
        f["something"] = np.zeros(3)
    best = (trained / "best.weights.h5").read_bytes()
    (tmp / "cut.weights.h5").write_bytes(best[: len(best) // 2])
    (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.new("L", (8, 8)).save(tmp / "fine.png")
    np.savez(tmp / "rank.npz", x=np.zeros((5, 64)))
    np.savez(tmp / "size.npz", x=np.zeros((5, 28, 28)))
    np.savez(tmp / "nox.npz", images=np.zeros((5, 8, 8)))
    (tmp / "empty").mkdir()
    (tmp / "notes.txt").write_text("hello")
    for name, y in (("short", np.zeros(4)), ("range", np.array([0, 1, 2, 3, 42]))):
        with h5py.File(tmp / f"labels_{name}.h5", "w") as f:
            f["x"] = np.zeros((5, 8, 8), dtype=np.uint8)
            f["y"] = y.astype(np.int64)
    run = ["--run", trained]
    return {
        "not_hdf5": (["--weights", tmp / "text.weights.h5", "digits:test"], "cannot read as HDF5"),
        "no_weights": (["--weights", tmp / "empty.weights.h5", "digits:test"], "holds no Keras"),
        "truncated": (["--weights", tmp / "cut.weights.h5", "digits:test"], "truncated"),
        "missing_weights": (["--weights", tmp / "nope.weights.h5", "digits:test"], "no such file"),
        "undecodable_image": ([*run, tmp / "broken.png", tmp / "fine.png"], "cannot decode"),
        "wrong_rank": ([*run, tmp / "rank.npz"], "shape (5, 64)"),
        "wrong_size": ([*run, tmp / "size.npz"], "expects (N, 8, 8, 1)"),
        "no_x_array": ([*run, tmp / "nox.npz"], "no array named x"),
        "empty_folder": ([*run, tmp / "empty"], "holds no PNG/JPEG images"),
        "unknown_split": ([*run, "digits:validation"], "unknown built-in split"),
        "missing_input": ([*run, tmp / "nothing.png"], "no such file"),
        "not_an_image": ([*run, tmp / "notes.txt", tmp / "fine.png"], "expected image files"),
        "no_input": ([*run], "no INPUT given"),
        "not_an_input_kind": ([*run, tmp / "notes.txt"], "is not an image"),
        "both_weights_and_run": (
            [*run, "--weights", tmp / "x.weights.h5", "digits:test"],
            "exactly one of",
        ),
        "bad_format": ([*run, "--format", "xml", "digits:test"], "expected csv or json"),
        "hdf5_label_count": (
            [*run, tmp / "labels_short.h5"],
            "y has shape (4,); expected one label per image (5)",
        ),
        "hdf5_label_range": ([*run, tmp / "labels_range.h5"], "run from 0 to 42"),
    }


CASES = [
    "not_hdf5",
    "no_weights",
    "truncated",
    "missing_weights",
    "undecodable_image",
    "wrong_rank",
    "wrong_size",
    "no_x_array",
    "empty_folder",
    "unknown_split",
    "missing_input",
    "not_an_image",
    "no_input",
    "not_an_input_kind",
    "both_weights_and_run",
    "bad_format",
    "hdf5_label_count",
    "hdf5_label_range",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_inputs_exit_2_and_write_nothing(case, trained, cli, tmp_path):
    args, message = bad_inputs(trained, tmp_path)[case]
    out, report = tmp_path / "out.csv", tmp_path / "report"
    r = cli("predict", *args, "-o", out, "--report", report)
    assert r.code == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not report.exists()


def test_skip_bad_leaves_undecodable_images_out(trained, cli, tmp_path):
    args, _ = bad_inputs(trained, tmp_path)["undecodable_image"]
    r = cli("predict", *args, "--skip-bad")
    assert r.code == 0
    assert len(rows_of(r.stdout)) == 1 and "skipped" in r.stderr and "broken.png" in r.stderr
