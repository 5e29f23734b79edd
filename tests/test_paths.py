"""`cnnrun.paths`: what a path is, checked before it is opened: a FIFO or a device is named,
never opened (no hang), a folder where a file belongs and the reverse are refused plainly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DIGITS, refused

HEAD = "model: {layers: [flatten, {dense: {units: 2, activation: softmax}}]}\n"


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
