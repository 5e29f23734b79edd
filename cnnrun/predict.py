"""Weights file -> model: the architecture, classes and preprocessing come from the file itself.

Example:
    >>> model, meta = load_model("runs/2026-11-27T10-15-03_digits/best.weights.h5")
    >>> meta["class_names"][:3]
    ['0', '1', '2']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
from pydantic import ValidationError

from cnnrun.checkpoint import read_metadata
from cnnrun.config import Config
from cnnrun.errors import Problem, UserError
from cnnrun.model import build_model


def config_from_metadata(path: Path, meta: dict[str, Any]) -> Config:
    """The resolved config stored in a cnnrun weights file."""
    if "config" not in meta:
        raise UserError(
            Problem(
                "holds plain Keras weights without cnnrun metadata",
                file=str(path),
                hint="pass the config that built it with --config",
            )
        )
    try:
        return Config.model_validate(meta["config"])
    except ValidationError as e:
        raise UserError(
            Problem(f"its stored config is not valid for this cnnrun: {e}", file=str(path))
        ) from None


def load_model(path: str | Path, compile: bool = False) -> tuple[keras.Model, dict[str, Any]]:
    """Rebuild the network a cnnrun weights file describes and load its weights.

    Args:
        path: a `best.weights.h5` or `last.weights.h5` written by cnnrun.
        compile: also attach optimizer, loss and metrics (for `evaluate`).

    Returns:
        The model and the file's metadata (config, class names, input shape, preprocessing,
        epoch, monitor, value, versions).
    """
    path = Path(path)
    meta = read_metadata(path)
    model = build_model(config_from_metadata(path, meta), compile=compile)
    skip = [model.optimizer] if compile else []
    keras.saving.load_weights(model, path, objects_to_skip=skip)
    return model, meta
