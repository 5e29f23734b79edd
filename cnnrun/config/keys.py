"""Every dotted config key the schema knows, for `--set` completion and suggestions.

Example:
    >>> "train.optimizer.learning_rate" in config_keys()
    True
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from cnnrun.config.schema import Config


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (`Section | None`, `list[Section]`, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """The dotted paths of every field, sections first; layer lists stop at `model.layers`."""
    out = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        out.append(key)
        for inner in models_in(info.annotation):
            out += config_keys(inner, f"{key}.")
    return out
