"""Weights file -> model: the architecture, classes and preprocessing come from the file itself.

The network built here takes pixels already multiplied by the run's pixel scale;
`cnnrun.load_model` puts that scaling inside the model.

Example:
    ```python
    model, meta = load_model("runs/2026-11-27T10-15-03_digits/best.weights.h5")
    meta["class_names"][:3]  # ['0', '1', '2']
    ```
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from pydantic import ValidationError

from cnnrun.config.schema import Config
from cnnrun.engine.model import build_model, from_logits
from cnnrun.errors import Problem, UserError
from cnnrun.runs.weights import read_metadata


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
    stored = meta["config"]
    data = stored.get("data") if isinstance(stored, dict) else None
    if isinstance(data, dict) and "decoder" not in data:
        # weights from before data.decoder existed: their images went through Pillow
        stored = {**stored, "data": {**data, "decoder": "pillow"}}
    try:
        return Config.model_validate(stored)
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


def _snake(name: str) -> str:
    # Keras names each layer's group in a .weights.h5 by its class in snake case, numbered in
    # order (keras/src/saving/saving_lib.py, _save_container_state): conv2d, conv2d_1, ...
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _shapes(group: Any, key: str, layer: keras.layers.Layer) -> list[tuple[int, ...]]:
    """The weight shapes a file holds for one layer; for a nested model (a backbone), all of
    them, in the order its own weights come (sorted alike on both sides)."""
    if key not in group:
        return []
    if isinstance(layer, keras.Model):
        found: list[tuple[int, ...]] = []
        group[key].visititems(
            lambda _, v: found.append(tuple(v.shape)) if hasattr(v, "shape") else None
        )
        mine = [tuple(w.shape) for w in layer.weights]
        return mine if sorted(found) == sorted(mine) else sorted(found)
    vars_ = group[key].get("vars", {})
    return [tuple(vars_[str(j)].shape) for j in range(len(vars_))]


def check_weights_match(model: keras.Model, path: Path) -> None:
    """Compare the model's layers with a weights file's, before Keras tries to load it.

    Raises:
        UserError: naming the first layer (as `model.layers[i]`) that disagrees with the file.
    """
    import h5py

    used: dict[str, int] = {}
    seen = set()
    with h5py.File(path, "r") as f:
        group = f["layers"]
        for layer in model.layers:
            base = _snake(type(layer).__name__)
            key = base if base not in used else f"{base}_{used[base] + 1}"
            used[base] = used.get(base, -1) + 1
            seen.add(key)
            want, have = [tuple(w.shape) for w in layer.weights], _shapes(group, key, layer)
            if want != have:
                # layers are named <kind>_<place in model.layers>[_<place in its block>]
                kind, _, place = layer.name.partition("_")
                where = "".join(f"[{p}]" for p in place.split("_"))
                raise UserError(
                    Problem(
                        f"model.layers{where} ({kind}) does not match the file: the config gives "
                        f"weight shapes {want or 'none'}, the file {have or 'none'}",
                        file=str(path),
                        hint="the config must describe the network exactly as it was trained",
                    )
                )
        extra = sorted(set(group) - seen)
        if extra:
            raise UserError(
                Problem(
                    f"the file has weights for {', '.join(extra)}, which the config has no layer "
                    f"for",
                    file=str(path),
                )
            )


@dataclass
class Predictor:
    """A loaded model with what predict needs to know about it."""

    model: keras.Model
    config: Config
    class_names: list[str]
    scale: float
    meta: dict[str, Any]


def load_predictor(
    weights: Path, config_path: Path | None = None, overrides: Sequence[str] = ()
) -> Predictor:
    """A model from a cnnrun weights file, or from plain Keras weights plus a config.

    Raises:
        UserError: an unreadable file, plain weights without a config, or a config that does
            not match the weights.
    """
    meta = read_metadata(weights)
    if config_path is None:
        config = config_from_metadata(weights, meta)
        names = list(meta.get("class_names") or [])
        scale = float(meta.get("preprocessing", {}).get("scale", 1 / 255))
    else:
        from cnnrun.config.load import load_config
        from cnnrun.plan import make_plan

        plan = make_plan(load_config(config_path, overrides))
        config, names = plan.config, plan.class_names
        # Plain Keras weights record no scaling: use the one training on this data would use
        # (image folders and keras.datasets are uint8, so 1/255; the plan loaded the others).
        scale = plan.dataset.scale if plan.dataset is not None else 1 / 255
    model = build_model(config, compile=False)
    check_weights_match(model, weights)
    keras.saving.load_weights(model, weights)
    return Predictor(model, config, names, scale, meta)


def predict_probabilities(pred: Predictor, x: Any, scale: float, batch_size: int) -> np.ndarray:
    """Class probabilities, (N, K), predicted in batches; logits are turned into probabilities."""
    from cnnrun.engine.pipeline import pipeline

    n = len(x)
    dummy = np.zeros(n, dtype=np.int64)
    ds = pipeline(
        x,
        dummy,
        scale,
        batch_size,
        loss="sparse_categorical_crossentropy",
        num_classes=len(pred.class_names),
    ).map(lambda xb, _: xb)
    return to_probabilities(pred.model.predict(ds, verbose=0), pred.config).astype(np.float32)


def to_probabilities(out: Any, config: Config) -> np.ndarray:
    """Class probabilities (N, K), float64, from a network's raw outputs: logits turned into
    probabilities, one sigmoid unit into two columns."""
    out = np.asarray(out, dtype=np.float64)
    if from_logits(config):
        if out.shape[-1] == 1:
            out = 1 / (1 + np.exp(-out))
        else:
            e = np.exp(out - out.max(axis=-1, keepdims=True))
            out = e / e.sum(axis=-1, keepdims=True)
    if out.shape[-1] == 1:  # binary: one sigmoid unit
        out = np.concatenate([1 - out, out], axis=-1)
    return out
