"""`cnnrun.data.images`: an image bomb is refused from its header, before decoding; 16-bit
greys are scaled by their own depth, not clipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.support import refused

HEAD = "model: {layers: [flatten, {dense: {units: 2, activation: softmax}}]}\n"


def test_an_image_bomb_is_refused_before_decoding(cli, tmp_path: Path):
    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        Image.new("L", (8, 8)).save(folder / c / "0.png")
    Image.new("L", (6000, 5000)).save(folder / "b" / "big.png")  # 30 Mpixels, tiny file
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{source: images, path: {folder}, image_size: [8, 8]}}\n" + HEAD)
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs")
    refused(r, "big.png", "30,000,000 pixels", "raise the limit (data.max_image_pixels)")
    assert "skip" not in r.stderr  # the hint fits the cause: the image is not undecodable
    assert not (tmp_path / "runs").exists()
    ok = cli("validate", cfg, "--set", "data.max_image_pixels=40000000")
    assert ok.code == 0, ok.stderr


def test_16_bit_greys_are_scaled_by_their_depth_not_clipped(tmp_path: Path):
    from cnnrun.data.images import read_image

    grey16 = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    Image.fromarray(np.rint(grey16 / 257).astype(np.uint8)).save(tmp_path / "g8.png")
    a = read_image(tmp_path / "g16.png", (64, 64), 1)
    b = read_image(tmp_path / "g8.png", (64, 64), 1)
    assert a.max() == 255 and np.abs(a.astype(int) - b.astype(int)).max() <= 1
