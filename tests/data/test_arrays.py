"""`cnnrun.data.arrays`: labels must be whole numbers (NaN and fractions refused, whole floats
fine), and images of a kind no network reads (complex, bool) are refused by their dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support import refused

HEAD = "model: {layers: [flatten, {dense: {units: 2, activation: softmax}}]}\n"


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
