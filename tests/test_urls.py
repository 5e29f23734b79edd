"""`cnnrun.urls`: a URL's password is masked in messages, left out of what is recorded, and a
relative SQLite storage is anchored in the search folder."""

from __future__ import annotations

from pathlib import Path

from cnnrun.urls import anchored_sqlite, hide, masked, password, scrubbed, without_password

URL = "postgresql+psycopg://ana:p%40ss:w@rd@db.example:5432/studies"


def test_the_password_is_masked_in_messages_and_left_out_of_records():
    assert masked(URL) == "postgresql+psycopg://ana:***@db.example:5432/studies"
    assert without_password(URL) == "postgresql+psycopg://ana@db.example:5432/studies"
    assert password(URL) == "p@ss:w@rd"
    for plain in ("http://127.0.0.1:5000", "http://ana@h:5000", "sqlite:///a.db", "no url"):
        assert masked(plain) == without_password(plain) == plain and password(plain) is None
    # a path with a colon and an @ after the host is not a password
    assert masked("http://h:5000/a:b@c") == "http://h:5000/a:b@c"


def test_records_and_driver_errors_keep_no_password():
    doc = {
        "logging": {"mlflow": {"tracking_uri": "http://u:pw1@h:5000"}},
        "sets": ["x=http://u:pw2@h"],
    }
    assert "pw1" not in str(scrubbed(doc)) and "pw2" not in str(scrubbed(doc))
    error = 'connection failed: FATAL: password "s3cret" rejected (postgresql://u:s3cret@h/db)'
    assert "s3cret" not in hide(error, "postgresql://u:s3cret@h/db")


def test_a_relative_sqlite_storage_is_anchored_in_the_folder(tmp_path: Path):
    assert anchored_sqlite("sqlite:///study.db", tmp_path) == f"sqlite:///{tmp_path}/study.db"
    for other in ("sqlite:////abs/study.db", "sqlite:///:memory:", "postgresql://h/db"):
        assert anchored_sqlite(other, tmp_path) == other
