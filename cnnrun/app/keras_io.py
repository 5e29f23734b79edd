"""`cnnrun import`: a Keras model file becomes a cnnrun config and a self-describing weights
file. What can be refused without TensorFlow is refused here, before it starts and before
anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnrun.errors import Problem, UserError
from cnnrun.interop.keras.read import is_keras_model, read_keras_model
from cnnrun.paths import require_dir_or_new, require_file

SOURCES_WITH_PATH = ("npz", "hdf5", "images")


@dataclass
class ImportRequest:
    """What `cnnrun import` was asked for."""

    model: Path
    out_dir: Path = Path(".")
    data: str | None = None
    class_names: list[str] | None = None
    overwrite: bool = False
    debug: bool = False


@dataclass
class ImportOutcome:
    """The files written, the notes on what was dropped or assumed, and the plan to show."""

    config: Path
    weights: Path
    notes: list[str] = field(default_factory=list)
    plan: Any = None


def data_section(spec: str | None, out_dir: Path) -> dict | None:
    """`--data SOURCE[:PATH]` as a config's `data:` section; paths relative to `out_dir`.

    Example:
        >>> data_section("npz:train.npz", Path("."))
        {'source': 'npz', 'path': 'train.npz'}
    """
    if spec is None:
        return None
    source, _, rest = spec.partition(":")
    known = ("digits", "mnist5k", "keras", *SOURCES_WITH_PATH)
    if source not in known:
        raise UserError(
            Problem(
                f"unknown data source {source!r}", file="--data", hint="one of " + ", ".join(known)
            )
        )
    if source in SOURCES_WITH_PATH:
        if not rest:
            raise UserError(Problem(f"{source} needs a path: --data {source}:PATH", file="--data"))
        path = Path(rest).resolve()
        return {"source": source, "path": os.path.relpath(path, out_dir.resolve())}
    if source == "keras":
        return {"source": "keras", "dataset": rest or "mnist"}
    return {"source": source}


def import_model(req: ImportRequest) -> ImportOutcome:
    """Check the model file and the targets, then write the config and the weights file.

    Raises:
        UserError: a file that is not a Keras model, one cnnrun cannot map or that is unsafe,
            or targets that exist (without `overwrite`); nothing is written then.
    """
    require_file(req.model, "a Keras model file (.keras or .h5)")
    if not is_keras_model(req.model):
        read_keras_model(req.model)  # says what the file is instead
        raise UserError(Problem("is not a Keras model file", file=str(req.model)))
    require_dir_or_new(req.out_dir, "a folder for the imported files (-o)")
    stem = req.model.name.removesuffix(req.model.suffix).removesuffix(".weights")
    config, weights = req.out_dir / f"{stem}.yaml", req.out_dir / f"{stem}.weights.h5"
    existing = [p for p in (config, weights) if p.exists()]
    if existing and not req.overwrite:
        raise UserError(
            [
                Problem("exists already; cnnrun does not overwrite it", file=str(p),
                        hint="choose another -o folder, or pass --overwrite")
                for p in existing
            ]
        )  # fmt: skip
    data = data_section(req.data, req.out_dir)
    from cnnrun import engine

    engine.load(req.debug)
    from cnnrun.engine.keras_io import write_import

    notes = write_import(req.model, config, weights, data, req.class_names)
    return ImportOutcome(config, weights, notes, _plan(config, data))


def _plan(config: Path, data: dict | None) -> Any:
    """The layer table of the written config (the data's too when `--data` gave it)."""
    from cnnrun.config.load import load_config
    from cnnrun.config.shapes import infer_shapes
    from cnnrun.plan import Plan, make_plan

    loaded = load_config(config)
    if data is not None:
        return make_plan(loaded)
    cfg = loaded.config
    table = infer_shapes(cfg.model.layers, tuple(cfg.model.input_shape or ()))
    units = table.output_shape[-1] if table.output_shape else 0
    return Plan(loaded, cfg, [str(i) for i in range(max(2, units))], table)


FORMATS = ("keras", "savedmodel", "onnx", "litert")
ARTIFACTS = {
    "keras": "model.keras",
    "savedmodel": "savedmodel",
    "onnx": "model.onnx",
    "litert": "model.tflite",
}
# The packages each format needs beyond TensorFlow: the `export` extra.
NEEDS = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "litert": ("ai_edge_litert",)}


def require_packages(formats: list[str]) -> None:
    """A one-line error naming the extra when a format's packages are missing."""
    import importlib.util

    missing = sorted(
        {p for f in formats for p in NEEDS.get(f, ()) if importlib.util.find_spec(p) is None}
    )
    if missing:
        raise UserError(
            Problem(
                f"exporting {', '.join(f for f in formats if f in NEEDS)} needs "
                f"{', '.join(missing)}, which is not installed",
                hint="pip install 'cnnrun[export]'",
            )
        )


@dataclass
class ExportRequest:
    """What `cnnrun export` was asked for."""

    target: Path | None = None
    formats: list[str] = field(default_factory=lambda: ["all"])
    output: Path | None = None
    quantize: str | None = None
    verify: Path | None = None
    overwrite: bool = False
    debug: bool = False


def export_plan(req: ExportRequest) -> tuple[list[str], Path]:
    """The formats and the output folder, refusing bad options before TensorFlow starts."""
    wanted = list(FORMATS) if "all" in req.formats else req.formats
    bad = [f for f in wanted if f not in FORMATS]
    if bad:
        raise UserError(
            Problem(f"unknown format {', '.join(bad)}", file="--format",
                    hint="one or more of keras, savedmodel, onnx, litert, or all")
        )  # fmt: skip
    if req.quantize not in (None, "float16", "int8"):
        raise UserError(
            Problem(f"expected float16 or int8, got {req.quantize!r}", file="--quantize")
        )
    if req.quantize and "litert" not in wanted:
        raise UserError(Problem("--quantize applies to the litert format", file="--quantize"))
    if req.target is None:
        raise UserError(Problem("give a RUN_DIR, a weights file or a Keras model to export"))
    if not req.target.exists():
        raise UserError(Problem("no such file or folder", file=str(req.target)))
    require_packages(wanted)
    out = req.output or (
        req.target / "export"
        if req.target.is_dir()
        else req.target.parent / f"{req.target.stem}-export"
    )
    require_dir_or_new(out, "a folder for the exported files (-o)")
    taken = [out / ARTIFACTS[f] for f in wanted if (out / ARTIFACTS[f]).exists()]
    if taken and not req.overwrite:
        raise UserError(
            [Problem("exists already; cnnrun does not overwrite it", file=str(p),
                     hint="choose another -o folder, or pass --overwrite") for p in taken]
        )  # fmt: skip
    return wanted, out


def export(req: ExportRequest) -> tuple[list[Any], Path, str]:
    """Export (or with `verify`, re-check) and return each artifact's check, the folder, and
    where the reference images came from."""
    from cnnrun import engine

    if req.verify is not None:
        require_dir_or_new(req.verify, "an export folder")
        engine.load(req.debug)
        from cnnrun.engine.export import verify

        return verify(req.verify), req.verify, "the kept reference batch"
    formats, out = export_plan(req)
    engine.load(req.debug)
    from cnnrun.engine.export import export_all, load_source

    source = load_source(req.target)  # type: ignore[arg-type]
    return export_all(source, formats, out, req.quantize), out, source.origin
