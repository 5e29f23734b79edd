"""`cnnrun.app.distributed`: `--workers HOST:PORT,...` and `--worker-index` as TF_CONFIG;
a malformed pair is a usage error before any folder is made."""

from __future__ import annotations

from pathlib import Path


def test_bad_workers_option_is_a_usage_error(cli, tiny_config, tmp_path: Path):
    for args in (
        ["--workers", "127.0.0.1"],  # no port
        ["--workers", "127.0.0.1:1,127.0.0.1:2"],  # no index
        ["--workers", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "2"],
    ):
        r = cli("train", tiny_config(), "--runs-dir", tmp_path / "runs", *args)
        assert r.code == 2, args
        assert "--workers" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()
