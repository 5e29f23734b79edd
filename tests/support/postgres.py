"""A throwaway PostgreSQL server for the storage tests: initdb in a temporary folder, listening
on a Unix socket only (no TCP port to collide with), trust authentication, stopped after."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not versions:
        raise RuntimeError("no PostgreSQL server here: .ci/run installs the postgresql package")
    return versions[-1]


@contextmanager
def postgres_server(database: str = "studies") -> Iterator[str]:
    """A SQLAlchemy URL (`postgresql+psycopg://...`) of a new, empty database."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="pg-"))  # short: a socket path has ~100 characters
    (root / "sock").mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "sock", "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sock, port = root / "data", root / "sock", "5433"
    quiet = {"check": True, "capture_output": True}
    subprocess.run(
        [*as_user, bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust"], **quiet
    )
    options = f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off"
    start = [*as_user, bindir / "pg_ctl", "-D", data, "-l", root / "pg.log", "-w", "-o", options]
    subprocess.run([*start, "start"], **quiet)
    try:
        import psycopg

        with psycopg.connect(host=str(sock), port=port, user="postgres", dbname="postgres") as c:
            c.autocommit = True
            c.execute(f"CREATE DATABASE {database}")
        yield f"postgresql+psycopg://postgres@/{database}?host={sock}&port={port}"
    finally:
        stop = [*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
