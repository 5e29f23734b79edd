"""What a study holds for a machine that has the storage's URL and nothing else: the plan of
its sweep or search, and the config file it trains. A worker joins with them (`--join URL`)
and a reader collects the results (`--collect URL`) without the sweep or search folder.

Example:
    ```python
    publish(study, "search", asdict(plan), Path(plan.config))
    found = read(store, url, "20261207-101500_search-digits")
    found.kind, found.plan["trials"]  # ('search', 16)
    ```
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun import atomic, urls
from cnnrun.errors import Problem, UserError
from cnnrun.hashes import file_sha256

KIND, PLAN, CONFIG = "cnnrun.kind", "cnnrun.plan", "cnnrun.config"


@dataclass(frozen=True)
class Published:
    """A study's sweep or search, as its storage holds it."""

    study_name: str
    kind: str  # "sweep" or "search"
    plan: dict[str, Any]
    config: dict[str, str]  # {"path", "name", "text", "sha256"}: the config file as it was


def publish(study: Any, kind: str, plan: dict[str, Any], config: Path) -> None:
    """Keep the plan (without results or passwords) and the config file's text in the study."""
    data = config.read_bytes()  # bytes, so that the copy a worker writes hashes the same
    study.set_user_attr(KIND, kind)
    study.set_user_attr(PLAN, urls.scrubbed({k: v for k, v in plan.items() if k != "results"}))
    study.set_user_attr(
        CONFIG,
        {
            "path": str(config),
            "name": config.name,
            "text": data.decode("utf-8"),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )


def read(store: Any, url: str, study_name: str | None, kind: str) -> Published:
    """The sweep or search named `study_name` in the storage; with no name, the storage's
    only one of this kind.

    Raises:
        UserError: no such study, a study cnnrun did not make, or (with no name) none or
            several to choose from.
    """
    mine = [s for s in store.get_all_studies() if s.user_attrs.get(KIND) == kind]
    if study_name is None and len(mine) == 1:
        study_name = mine[0].study_name
    found = next((s for s in mine if s.study_name == study_name), None)
    if found is None:
        plural = "searches" if kind == "search" else "sweeps"
        names = ", ".join(sorted(s.study_name for s in mine)[:10])
        if not mine:
            what = f"no {kind} cnnrun made"
        elif study_name is None:
            what = f"{len(mine)} {plural} ({names})"
        else:
            what = f"no {kind} named {study_name!r}; its {plural}: {names}"
        raise UserError(
            Problem(
                f"this storage holds {what}",
                file=urls.masked(url),
                hint="name one with --study NAME" if mine else f"is this the {kind}'s storage?",
            )
        )
    attrs = found.user_attrs
    return Published(found.study_name, kind, dict(attrs[PLAN]), dict(attrs[CONFIG]))


def local_config(found: Published, folder: Path) -> Path:
    """The config file to train on this machine: the study's own where it is here unchanged
    (a checkout at the same path), else its text written into `folder` (relative paths in it
    then start from `folder`)."""
    own = Path(found.config["path"])
    try:
        if own.is_file() and file_sha256(own) == found.config["sha256"]:
            return own
    except OSError:
        pass
    copy = folder / found.config["name"]
    if not copy.is_file() or file_sha256(copy) != found.config["sha256"]:
        atomic.write_bytes(copy, found.config["text"].encode("utf-8"))
    return copy
