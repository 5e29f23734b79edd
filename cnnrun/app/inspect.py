"""`cnnrun inspect --errors` and `--cam`: what a run gets wrong, and where it looks.

The errors gallery comes from the run folder alone (`errors.npz`, kept at the end of
training), without TensorFlow; Grad-CAM needs the network's gradients, so `--cam` starts the
engine (`cnnrun.engine.cam`).

Example:
    >>> look(LookRequest(Path("runs/2026-12-02T05-20-00_digits"), errors=True, cam=True))
    {'figure': 'runs/.../curves/errors.png', 'layer': 'conv2d_2', ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.analysis import answers, gallery
from cnnrun.analysis.scores import worst_errors
from cnnrun.config.schema import MAX_IMAGE_PIXELS
from cnnrun.data.hdf5 import take
from cnnrun.errors import Problem, UserError
from cnnrun.paths import require_dir_or_new
from cnnrun.runs.folder import BEST, CURVES
from cnnrun.runs.summary import read_summary
from cnnrun.runs.weights import read_metadata

MAX_CAM = 25


@dataclass
class LookRequest:
    """What `cnnrun inspect` was asked to draw (see its `--help`)."""

    run_dir: Path
    errors: bool = False
    cam: bool = False
    inputs: list[str] = field(default_factory=list)
    layer: str | None = None
    output: Path | None = None
    debug: bool = False
    method: str = "elementwise"  # Grad-CAM's weighting (`cnnrun.engine.cam`)


def _errors(req: LookRequest) -> answers.Errors:
    """The run's worst errors: kept in its folder, or (an older run) computed now."""
    summary = read_summary(req.run_dir)
    kept = answers.read_errors(req.run_dir, summary)
    if kept is not None:
        return kept
    from cnnrun import engine

    engine.load(req.debug)
    from cnnrun.engine.cam import run_answers

    x, y, probs, where, _ = run_answers(str(req.run_dir))
    worst = worst_errors(y, probs, answers.LIMIT)
    wrong = int((probs.argmax(axis=1) != y).sum())
    return answers.Errors(take(x, [e["index"] for e in worst]), worst, wrong, len(y), where)


def _inputs(req: LookRequest, meta: dict) -> tuple[np.ndarray, list[str], Any, float]:
    """The images `--cam` explains: the INPUTs, or the run's first test images."""
    names = list(meta.get("class_names") or [])
    if req.inputs:
        from cnnrun.data.inputs import read_inputs

        scale = float(meta.get("preprocessing", {}).get("scale", 1 / 255))
        shape = tuple(meta.get("input_shape") or ())
        data = read_inputs(req.inputs, shape, names, scale, max_pixels=MAX_IMAGE_PIXELS)
        x = take(data.x, np.arange(len(data.names)))
        return np.asarray(x)[:MAX_CAM], [str(n) for n in data.names][:MAX_CAM], (
            None if data.y is None else data.y[:MAX_CAM]), data.scale  # fmt: skip
    from cnnrun.engine.cam import run_answers

    x, y, _, where, scale = run_answers(str(req.run_dir))
    return x[:MAX_CAM], [f"{where} #{i}" for i in range(min(MAX_CAM, len(y)))], y[:MAX_CAM], scale


def look(req: LookRequest) -> dict[str, Any]:
    """Draw the errors gallery, Grad-CAM heatmaps, or both; what was drawn, for `--json`."""
    if not (req.run_dir / BEST).is_file():
        raise UserError(Problem(f"is not a run folder with {BEST}", file=str(req.run_dir)))
    if req.inputs and req.errors:
        raise UserError(
            Problem("--errors draws the run's own errors; give INPUTs with --cam alone")
        )
    if (req.inputs or req.layer) and not req.cam:
        raise UserError(Problem("INPUTs and --layer go with --cam"))
    out = req.output or req.run_dir / CURVES / (gallery.ERRORS if req.errors else gallery.CAM)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UserError(Problem("expected a .png, .svg or .pdf file", file=str(out)))
    require_dir_or_new(out.parent, "a folder for -o")
    meta = read_metadata(req.run_dir / BEST)
    names = list(meta.get("class_names") or [])
    if req.errors:
        e = _errors(req)
        heat, layer = _cam_of(req, e.images, meta) if req.cam and e.errors else (None, None)
        gallery.draw_errors(e.images, e.errors, names, e.total, out, e.where, heat, e.wrong)
        return {"figure": str(out), "set": e.where, "wrong": e.wrong, "total": e.total,
                "errors": [_named(x, names) for x in e.errors], "layer": layer}  # fmt: skip
    from cnnrun import engine

    engine.load(req.debug)
    x, labels, y, scale = _inputs(req, meta)
    from cnnrun.engine.cam import explain

    probs, heat, layer = explain(str(req.run_dir / BEST), x, scale, req.layer, req.method)
    said = probs.argmax(axis=1)
    captions = [
        f"{'' if y is None else f'true {names[y[i]]}, '}said {names[said[i]]} "
        f"{probs[i, said[i]]:.0%}"
        for i in range(len(x))
    ]
    wrong = [False] * len(x) if y is None else [bool(y[i] != said[i]) for i in range(len(x))]
    gallery.draw_cam(x, heat, captions, out, f"Grad-CAM at {layer} of {req.run_dir.name}: "
                     "where the network looked for the class it said", wrong)  # fmt: skip
    return {"figure": str(out), "layer": layer, "images": labels,
            "predicted": [names[i] for i in said]}  # fmt: skip


def _cam_of(req: LookRequest, images: np.ndarray, meta: dict) -> tuple[np.ndarray, str]:
    from cnnrun import engine

    engine.load(req.debug)
    from cnnrun.engine.cam import explain

    scale = float(meta.get("preprocessing", {}).get("scale", 1 / 255))
    _, heat, layer = explain(str(req.run_dir / BEST), images, scale, req.layer, req.method)
    return heat, layer


def _named(e: dict, names: list[str]) -> dict:
    return {**e, "true_class": names[e["true"]], "predicted_class": names[e["predicted"]]}
