"""Inputs for `cnnrun predict`: the digits' test images, its CSV read back, and every kind of
bad input, each with the message that must name it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import h5py
import numpy as np
from PIL import Image


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def digits_test() -> tuple[np.ndarray, np.ndarray]:
    from cnnrun.config.schema import DataConfig
    from cnnrun.data.sources import load_dataset

    ds, _ = load_dataset(DataConfig(source="digits"), Path("."))
    return ds.x_test, ds.y_test


def bad_inputs(trained: Path, tmp: Path) -> dict[str, tuple[list, str]]:
    """Each case: the arguments after `predict`, and the words its refusal must say."""
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
        "undecodable_image": ([*run, tmp / "broken.png", tmp / "fine.png"], "cannot be used"),
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


def assert_refused_writing_nothing(cli, trained: Path, tmp_path: Path, case: str) -> None:
    """`cnnrun predict` on the bad input `case`: exit 2, its message, no output, no report."""
    args, message = bad_inputs(trained, tmp_path)[case]
    out, report = tmp_path / "out.csv", tmp_path / "report"
    r = cli("predict", *args, "-o", out, "--report", report)
    assert r.code == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not report.exists()
