"""`cnnrun import` and `cnnrun export`: Keras model files in, deployable artifacts out.

What can be refused without TensorFlow is refused here, before it starts and before anything
is written: a file that is not a Keras model (read by `cnnrun.interop.keras` first, without
Keras), targets that exist, formats whose packages are missing.

Example:
    ```python
    imported = import_model("model.keras", out_dir="imported", data="npz:train.npz")
    checks, folder, origin = export("runs/2026-12-01T21-45-37_digits", formats=["onnx"])
    ```
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cnnrun.config.load import load_config
from cnnrun.config.shapes import infer_shapes
from cnnrun.errors import Problem, UserError
from cnnrun.interop.keras.mapping import read_checked
from cnnrun.interop.keras.read import is_keras_model, read_keras_model
from cnnrun.paths import require_dir_or_new, require_file
from cnnrun.plan import Plan, make_plan
from cnnrun.runs.names import ARTIFACTS, FORMATS

if TYPE_CHECKING:
    from cnnrun.engine.api import Checked

SOURCES_WITH_PATH = ("npz", "hdf5", "images")
# The packages each format needs beyond TensorFlow: the `export` extra.
NEEDS = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "litert": ("ai_edge_litert",)}


@dataclass
class Imported:
    """The files `import_model` wrote, what was dropped or assumed, and the config's plan."""

    config: Path
    weights: Path
    plan: Plan
    notes: list[str] = field(default_factory=list)


def _refuse_existing(paths: Sequence[Path], hint: str) -> None:
    existing = [p for p in paths if p.exists()]
    if existing:
        raise UserError(
            [
                Problem("exists already; cnnrun does not overwrite it", file=str(p), hint=hint)
                for p in existing
            ]
        )


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


def import_model(
    model: str | Path,
    *,
    out_dir: str | Path = ".",
    data: str | None = None,
    class_names: Sequence[str] | None = None,
    overwrite: bool = False,
    debug: bool = False,
) -> Imported:
    """A Keras `.keras` or legacy `.h5` model as a cnnrun config and self-describing weights.

    Args:
        model: the Keras model file.
        out_dir: where `MODEL.yaml` and `MODEL.weights.h5` are written.
        data: the config's data, `SOURCE[:PATH]` (`npz:train.npz`, `digits`); default none.
        class_names: the output classes' names, in order.
        overwrite: replace files that exist.

    Raises:
        UserError: a file that is not a Keras model, one cnnrun cannot map or that is unsafe
            (a `Lambda` layer, custom objects), or targets that exist; nothing is written then.
    """
    path, out = Path(model), Path(out_dir)
    require_file(path, "a Keras model file (.keras or .h5)")
    if not is_keras_model(path):
        read_keras_model(path)  # says what the file is instead
        raise UserError(Problem("is not a Keras model file", file=str(path)))
    read_checked(path)  # refused before TensorFlow starts
    require_dir_or_new(out, "a folder for the imported files (-o)")
    stem = path.name.removesuffix(path.suffix).removesuffix(".weights")
    config, weights = out / f"{stem}.yaml", out / f"{stem}.weights.h5"
    if not overwrite:
        _refuse_existing([config, weights], "choose another -o folder, or pass --overwrite")
    section = data_section(data, out)
    from cnnrun.engine import start

    start(debug)
    from cnnrun.engine import api

    names = list(class_names) if class_names else None
    notes = api.write_import(path, config, weights, section, names)
    return Imported(config, weights, _plan(config, section), notes)


def _plan(config: Path, data: dict | None) -> Plan:
    """The layer table of the written config (the data's too when `--data` gave it)."""
    loaded = load_config(config)
    if data is not None:
        return make_plan(loaded)
    cfg = loaded.config
    table = infer_shapes(cfg.model.layers, tuple(cfg.model.input_shape or ()))
    units = table.output_shape[-1] if table.output_shape else 0
    return Plan(loaded, cfg, [str(i) for i in range(max(2, units))], table)


def require_packages(formats: Sequence[str]) -> None:
    """A one-line error naming the extra when a format's packages are missing."""
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


def _formats(formats: Sequence[str], quantize: str | None) -> list[str]:
    wanted = list(FORMATS) if "all" in formats else list(formats)
    bad = [f for f in wanted if f not in FORMATS]
    if bad:
        raise UserError(
            Problem(
                f"unknown format {', '.join(bad)}",
                file="--format",
                hint="one or more of keras, savedmodel, onnx, litert, or all",
            )
        )
    if quantize not in (None, "float16", "int8"):
        raise UserError(Problem(f"expected float16 or int8, got {quantize!r}", file="--quantize"))
    if quantize and "litert" not in wanted:
        raise UserError(Problem("--quantize applies to the litert format", file="--quantize"))
    return wanted


def _out_dir(target: Path, output: Path | None, wanted: list[str], overwrite: bool) -> Path:
    out = output or (
        target / "export" if target.is_dir() else target.parent / f"{target.stem}-export"
    )
    require_dir_or_new(out, "a folder for the exported files (-o)")
    if not overwrite:
        taken = [out / ARTIFACTS[f] for f in wanted]
        _refuse_existing(taken, "choose another -o folder, or pass --overwrite")
    return out


def export(
    target: str | Path | None = None,
    *,
    formats: Sequence[str] | None = ("all",),
    output: str | Path | None = None,
    quantize: str | None = None,
    verify: str | Path | None = None,
    overwrite: bool = False,
    debug: bool = False,
) -> tuple[list[Checked], Path, str]:
    """Export a network to `.keras`, SavedModel, ONNX and LiteRT, each checked in its runtime.

    Args:
        target: a run folder, a cnnrun weights file or a Keras model file.
        formats: `keras`, `savedmodel`, `onnx`, `litert`, or `all`.
        output: the export folder (default `RUN_DIR/export`, or `<file>-export`).
        quantize: LiteRT only: `float16` or `int8` (full-integer), checked by accuracy.
        verify: instead of exporting, check an export folder's artifacts again.
        overwrite: replace artifacts that exist.

    Returns:
        Each artifact's check (its largest probability difference from cnnrun's, or its
        accuracy when quantized), the folder, and where the reference images came from.

    Raises:
        UserError: bad options, a missing target, targets that exist, or a missing extra.
    """
    if verify is not None:
        folder = Path(verify)
        require_dir_or_new(folder, "an export folder")
        from cnnrun.engine import start

        start(debug)
        from cnnrun.engine import api

        return api.verify(folder), folder, "the kept reference batch"
    wanted = _formats(formats or ("all",), quantize)
    if target is None:
        raise UserError(Problem("give a RUN_DIR, a weights file or a Keras model to export"))
    source = Path(target)
    if not source.exists():
        raise UserError(Problem("no such file or folder", file=str(source)))
    require_packages(wanted)
    out = _out_dir(source, Path(output) if output else None, wanted, overwrite)
    from cnnrun.engine import start

    start(debug)
    from cnnrun.engine import api

    loaded = api.load_source(source)
    return api.export_all(loaded, wanted, out, quantize), out, loaded.origin
