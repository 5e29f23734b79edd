"""`cnnrun.data.inputs`, what `cnnrun predict` reads: PNG files at another size and colour,
folders, .npy and HDF5 give the same classes as the arrays; each bad input is refused naming
it and writing nothing, or, with `--skip-bad`, an undecodable image is left out."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

from tests.support.predict import assert_refused_writing_nothing, bad_inputs, digits_test, rows_of

pytestmark = pytest.mark.slow


def test_png_files_at_another_size_and_colour_give_the_array_classes(digits_run, cli, tmp_path):
    trained = digits_run.path
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


def test_npy_and_hdf5_inputs(digits_run, cli, tmp_path):
    trained = digits_run.path
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


@pytest.mark.parametrize(
    "case",
    [
        "undecodable_image",
        "wrong_rank",
        "wrong_size",
        "no_x_array",
        "empty_folder",
        "unknown_split",
        "missing_input",
        "not_an_image",
        "not_an_input_kind",
        "hdf5_label_count",
        "hdf5_label_range",
    ],
)
def test_bad_inputs_exit_2_and_write_nothing(case, digits_run, cli, tmp_path):
    assert_refused_writing_nothing(cli, digits_run.path, tmp_path, case)


def test_skip_bad_leaves_undecodable_images_out(digits_run, cli, tmp_path):
    args, _ = bad_inputs(digits_run.path, tmp_path)["undecodable_image"]
    r = cli("predict", *args, "--skip-bad")
    assert r.code == 0
    assert len(rows_of(r.stdout)) == 1 and "skipped" in r.stderr and "broken.png" in r.stderr


def test_an_image_over_the_pixel_limit_gets_the_limits_hint_not_skip_bad(digits_run, cli, tmp_path):
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    r = cli("predict", "--run", digits_run.path, tmp_path / "big.png", "--max-image-pixels", "1000")
    assert r.code == 2 and "Traceback" not in r.stderr
    assert "9,000,000 pixels" in r.stderr and "--max-image-pixels" in r.stderr
    assert "--skip-bad" not in r.stderr
