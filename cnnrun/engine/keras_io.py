"""Keras model files in: predicted from, imported as a cnnrun config and weights file.

`cnnrun.interop.keras.read` reads a file's architecture without Keras and refuses what it
cannot map; only then is the file loaded, with `safe_mode=True`, and its weights copied into
the network cnnrun builds from the mapped config, so a Keras model predicts, exports and
trains through the same code as a cnnrun run.

Example:
    ```python
    pred = keras_predictor(Path("model.keras"), class_names=None, scale=None)
    pred.meta["assumed"]  # ['class names: the class indices 0..2 (--class-names ...)', ...]
    ```
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
from pydantic import ValidationError

from cnnrun.config.messages import from_pydantic_errors
from cnnrun.config.schema import Config
from cnnrun.config.shapes import infer_shapes
from cnnrun.engine.model import build_model
from cnnrun.engine.predict import Predictor
from cnnrun.errors import Problem, UserError
from cnnrun.interop.keras.mapping import MappedModel, check_size, read_checked, to_cnnrun
from cnnrun.interop.keras.read import CNNRUN_MEMBER, KerasModelFile
from cnnrun.version import __version__

NO_DATA = {"source": "none"}


@dataclass
class KerasImport:
    """A Keras model file as cnnrun sees it: its config, its network, what was assumed.

    Args:
        config: the cnnrun config it maps onto (data: none unless given).
        model: the float32 cnnrun network holding the file's weights.
        class_names: from `--class-names`, the file's cnnrun metadata, or the indices.
        scale: the pixel scaling for arrays, or None (arrays as stored, images / 255).
        notes: what was dropped or assumed, one line each.
        source: the file as read.
    """

    config: Config
    model: keras.Model
    class_names: list[str]
    scale: float | None
    notes: list[str] = field(default_factory=list)
    source: KerasModelFile | None = None


def _config(path: Path, mapped: MappedModel, data: dict | None) -> Config:
    name = re.sub(r"[^A-Za-z0-9._-]", "-", path.stem.removesuffix(".weights"))[:64] or "imported"
    raw = {
        "name": name if name[0].isalnum() else f"m{name}"[:64],
        "data": data or NO_DATA,
        "model": {"input_shape": list(mapped.input_shape), "layers": mapped.layers},
    }
    if mapped.num_classes == 2 and "sigmoid" in json.dumps(mapped.layers[-1]):
        raw["train"] = {"loss": "binary_crossentropy"}
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        problems = from_pydantic_errors(e.errors())
        raise UserError(
            [Problem(f"{p.path}: {p.message}", file=str(path), hint=p.hint) for p in problems]
        ) from None


def _copy_weights(
    source: keras.Model, target: keras.Model, names: dict[str, str], path: Path
) -> None:
    """Every layer's weights from the loaded Keras model into cnnrun's network.

    Args:
        names: cnnrun layer name -> Keras layer name; empty for a model cnnrun exported,
            whose layers have cnnrun's own names.
    """
    for dst in target.layers:
        if not dst.weights or names.get(dst.name) == "":
            continue
        src = source.get_layer(names.get(dst.name, dst.name))
        theirs, ours = src.get_weights(), dst.get_weights()
        if [w.shape for w in theirs] != [w.shape for w in ours]:
            raise UserError(
                Problem(
                    f"layer {src.name} ({type(src).__name__}) holds weights of shapes "
                    f"{[w.shape for w in theirs]}, cnnrun's {dst.name} expects "
                    f"{[w.shape for w in ours]}",
                    file=str(path),
                )
            )
        dst.set_weights(theirs)


def _stored_config(path: Path, stored: Any) -> Config:
    """The config in the file's cnnrun metadata, or one line naming what is wrong in it."""
    try:
        return Config.model_validate(stored)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise UserError(
            Problem(
                f"its {CNNRUN_MEMBER} holds no valid cnnrun config ({where}: {err['msg']}; "
                f"{e.error_count()} problem(s) in all)",
                file=str(path),
                hint=f"re-export it with cnnrun, or remove {CNNRUN_MEMBER} to import the graph",
            )
        ) from None


def read_keras(
    path: Path, class_names: list[str] | None = None, data: dict | None = None
) -> KerasImport:
    """Check, load (`safe_mode=True`) and map a `.keras` or legacy `.h5` model.

    Args:
        path: the model file.
        class_names: names for the output units, in order (default: the file's cnnrun
            metadata, else the indices).
        data: the `data:` section for the config (default: none).

    Raises:
        UserError: anything `cnnrun.interop.keras.read` refuses, a file Keras cannot load,
            or class names that do not match the output.
    """
    source = read_checked(path)  # whatever metadata the file carries, before Keras loads it
    stored = (source.cnnrun or {}).get("config")
    if stored:  # exported by cnnrun: its own config comes back whole
        config = _stored_config(path, stored if data is None else {**stored, "data": data})
        mapped, notes = None, []
    else:
        mapped = to_cnnrun(source)
        config, notes = _config(path, mapped, data), list(mapped.notes)
    check_size(source, infer_shapes(config.model.layers, config.model.input_shape).total_params)
    try:
        loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise UserError(Problem(f"Keras cannot load it: {first}", file=str(path))) from None
    model = build_model(config, compile=False)
    try:
        _copy_weights(loaded, model, mapped.weights if mapped is not None else {}, path)
    except (ValueError, UserError) as e:  # the metadata's network is not the graph's
        if mapped is not None:
            raise
        detail = e.problems[0].message if isinstance(e, UserError) else str(e).splitlines()[0]
        raise UserError(
            Problem(
                f"its {CNNRUN_MEMBER} describes another network than the file holds "
                f"({detail[:200]})",
                file=str(path),
                hint=f"re-export it with cnnrun, or remove {CNNRUN_MEMBER} to import the graph",
            )
        ) from None
    units = model.output_shape[-1]
    units = 2 if units == 1 else units
    names = class_names or (source.cnnrun or {}).get("class_names")
    if names is None:
        names = [str(i) for i in range(units)]
        notes.append(f"class names: the class indices 0..{units - 1} (--class-names to name them)")
    if len(names) != units:
        raise UserError(
            Problem(f"--class-names gives {len(names)} names, the model outputs {units} classes")
        )
    scale = mapped.scale if mapped is not None else (source.cnnrun or {}).get("scale")
    if mapped is not None and mapped.scale is not None:
        notes.append(f"pixel scaling: {mapped.scale:g}, from the model's leading Rescaling layer")
    return KerasImport(config, model, list(map(str, names)), scale, notes, source)


def keras_predictor(path: Path, class_names: list[str] | None, scale: float | None) -> Predictor:
    """A `Predictor` for a Keras model file; what was assumed is in `meta["assumed"]`."""
    imp = read_keras(path, class_names)
    notes = list(imp.notes)
    used = scale if scale is not None else imp.scale
    if used is None:
        notes.append("pixel scaling: arrays as they are stored, images divided by 255 (--scale)")
    meta = {"assumed": notes, "source": imp.source.format if imp.source else "keras"}
    return Predictor(imp.model, imp.config, imp.class_names, 1.0 if used is None else used, meta)


def metadata(imp: KerasImport, path: Path) -> dict[str, Any]:
    """cnnrun's weights-file metadata for an imported model."""
    import tensorflow as tf

    return {
        "config": imp.config.resolved(),
        "class_names": imp.class_names,
        "input_shape": list(imp.config.model.input_shape or ()),
        "preprocessing": {"scale": imp.scale if imp.scale is not None else 1 / 255},
        "precision": "float32",
        "imported_from": str(path),
        "cnnrun_version": __version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }


def _compact(entry: Any) -> dict:
    """A layer entry as a user writes it: only the arguments that differ from the defaults."""
    args = entry.args.model_dump(mode="json", exclude_defaults=True, exclude={"layers"})
    if entry.spec.block:
        args["layers"] = [_compact(e) for e in entry.args.layers]
    return {entry.kind: args}


def write_import(
    path: Path, config_path: Path, weights_path: Path, data: dict | None, class_names: list | None
) -> list[str]:
    """`cnnrun import`: write the mapped config (YAML) and a self-describing weights file.

    Returns:
        What was dropped or assumed, one line each.
    """
    import yaml

    from cnnrun import atomic
    from cnnrun.runs import weights

    imp = read_keras(path, class_names, data)
    cfg = imp.config
    config_path.parent.mkdir(parents=True, exist_ok=True)  # only now: the model was accepted
    if imp.source is not None and imp.source.cnnrun:  # cnnrun's own export: the whole config
        doc = cfg.resolved()
    else:
        doc = {"name": cfg.name, "data": cfg.data.model_dump(exclude_defaults=True)}
        doc["model"] = {
            "input_shape": list(cfg.model.input_shape or ()),
            "layers": [_compact(e) for e in cfg.model.layers],
        }
        if cfg.train.loss != "sparse_categorical_crossentropy":
            doc["train"] = {"loss": cfg.train.loss}
    header = (
        f"# Imported by cnnrun {__version__} from {path.name}; its weights are in "
        f"{weights_path.name}.\n"
    )
    if cfg.data.source == "none":
        header += "# data: none is the one thing to fill in before `cnnrun train` (docs/data.md).\n"
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    atomic.write_text(config_path, header + text)
    with atomic.atomic_path(weights_path) as tmp:
        keras.saving.save_weights(imp.model, tmp)
        weights.add_metadata(tmp, metadata(imp, path))
    return imp.notes
