"""`cnnrun export --verify DIR`: every artifact an export folder lists, checked again in its
runtime against the kept reference batch, after `cnnrun.engine.artifacts` has made sure it
holds nothing cnnrun's own exports do not.

Example:
    ```python
    results = verify(Path("runs/2026-12-01T10-00-00_digits/export"))
    [r.ok for r in results]  # [True, True, True, True]
    ```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from cnnrun.config.schema import Config
from cnnrun.engine import artifacts
from cnnrun.engine.runtimes import Checked, check
from cnnrun.errors import Problem, UserError
from cnnrun.runs.names import ARTIFACTS, EXPORT, REFERENCE


def verify(out: Path) -> list[Checked]:
    """`cnnrun export --verify DIR`: every artifact in DIR against its kept reference batch."""
    try:
        meta = json.loads((out / EXPORT).read_text())
        with np.load(out / REFERENCE) as ref:
            x, reference = ref["x"], ref["probabilities"]
            y = ref["y"] if "y" in ref.files else None
    except (OSError, ValueError, KeyError) as e:
        raise UserError(
            Problem(f"is not an export folder with {EXPORT} and {REFERENCE} ({e})", file=str(out))
        ) from None
    config = _export_config(out, meta)
    formats = meta.get("formats")
    if not isinstance(formats, list):
        raise UserError(Problem("formats: expected a list of formats", file=str(out / EXPORT)))
    return [_verify_one(out, fmt, meta, config, x, y, reference) for fmt in formats]


def _verify_one(
    out: Path,
    fmt: Any,
    meta: dict,
    config: Config,
    x: np.ndarray,
    y: np.ndarray | None,
    reference: np.ndarray,
) -> Checked:
    """One listed artifact checked; one that cannot be is named, and the others go on."""
    if fmt not in ARTIFACTS:
        refused = f"{EXPORT}: formats: unknown format {fmt!r}"
        return Checked(str(fmt), str(out / EXPORT), float("inf"), False, refused=refused)
    path = out / ARTIFACTS[fmt]
    if not path.exists():
        return Checked(fmt, str(path), float("inf"), False)
    refused = artifacts.problem(fmt, path)  # before anything in it runs
    if refused is not None:
        return Checked(fmt, str(path), float("inf"), False, refused=refused)
    q = meta.get("quantize") if fmt == "litert" else None
    return check(fmt, path, config, x, y, reference, q)


def _export_config(out: Path, meta: Any) -> Config:
    """The config `export.json` records, or one line naming its first problem."""
    try:
        return Config.model_validate(meta["config"])
    except (KeyError, TypeError, ValidationError) as e:
        if isinstance(e, ValidationError):
            err = e.errors()[0]
            where = ".".join(["config", *map(str, err["loc"])])
            reason = f"{where}: {err['msg']}"
        else:
            reason = "config: missing or not a mapping"
        raise UserError(
            Problem(
                f"{reason}: the artifacts cannot be compared without the network's config",
                file=str(out / EXPORT),
                hint="export the run again",
            )
        ) from None
