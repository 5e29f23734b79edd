"""Storage and tracking URLs without their secrets: what cnnrun prints and records.

A password given in a URL (`postgresql://user:pw@host/db`, `http://user:pw@host:5000`) is
used for the connection the user asked for and never printed, stored or logged: messages
show it masked, files keep the URL without it, and a resumed run takes it from where such
tools keep it (`PGPASSWORD` or `~/.pgpass` for PostgreSQL, `MLFLOW_TRACKING_PASSWORD` for
MLflow).

Example:
    >>> masked("postgresql://ana:s3cret@db:5432/studies")
    'postgresql://ana:***@db:5432/studies'
    >>> without_password("http://ana:s3cret@127.0.0.1:5000")
    'http://ana@127.0.0.1:5000'
    >>> with_password("http://ana@127.0.0.1:5000", "s3cret"), bare("http://ana@h:5000/x")
    ('http://ana:s3cret@127.0.0.1:5000', 'http://h:5000/x')
    >>> scrubbed({"uri": "http://ana:s3cret@h", "n": 1})
    {'uri': 'http://ana@h', 'n': 1}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

# scheme://user:password@ : the password is everything between the first ':' after '//'
# and the last '@' before the host (a password may itself hold '@' or ':')
_SECRET = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/:@\s]*):(?P<pw>[^\s/]*)@")


def password(url: str) -> str | None:
    """The password a URL carries, decoded; None when it has none."""
    m = _SECRET.search(url)
    return unquote(m["pw"]) if m else None


def username(url: str) -> str | None:
    """The user name a URL carries, decoded; None when it has none."""
    m = re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://(?P<user>[^/@\s]*)@", url)
    return unquote(m["user"].split(":")[0]) if m else None


def bare(url: str) -> str:
    """The URL without its user name and password, as an HTTP request line wants it."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]*@", r"\1", url)


def with_password(url: str, secret: str) -> str:
    """A URL that names a user but no password, given `secret` as its password."""
    user = username(url)
    if user is None or password(url) is not None:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(secret, safe='')}@{rest.split('@', 1)[1]}"


def masked(text: str) -> str:
    """`text` with every URL's password shown as `***`: for messages."""
    return _SECRET.sub(lambda m: f"{m['head']}:***@", text)


def without_password(url: str) -> str:
    """The URL with its password left out (the user name kept): for files and resumes."""
    return _SECRET.sub(lambda m: f"{m['head']}@", url)


def scrubbed(value: Any) -> Any:
    """Plain data (dicts, lists, strings) with every URL's password left out."""
    if isinstance(value, str):
        return without_password(value) if "://" in value else value
    if isinstance(value, dict):
        return {k: scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v) for v in value]
    return value


def hide(text: str, url: str | None) -> str:
    """`text` (a driver's error, say) with `url`'s password masked wherever it appears,
    also outside a URL."""
    text = masked(text)
    secret = password(url) if url else None
    return text.replace(secret, "***") if secret else text


def anchored_sqlite(url: str, folder: Path) -> str:
    """A relative SQLite URL (`sqlite:///study.db`) made absolute inside `folder`, so the
    study is found again whatever the current folder; any other URL as it is."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "/") or url == prefix:
        return url
    path, sep, query = url.removeprefix(prefix).partition("?")
    if path.startswith(":memory:") or Path(path).is_absolute():
        return url
    return f"{prefix}{(folder / path).resolve()}{sep}{query}"
