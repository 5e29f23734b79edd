"""`cnnrun inspect`: looking inside a trained network: batchnorm's variance shift (`--bn`),
what it gets wrong (`--errors`) and where it looks (`--cam`).

The errors gallery comes from the run folder alone (`errors.npz`, kept at the end of
training), without TensorFlow; `--bn` and Grad-CAM need the network, so they start the
engine.

Example:
    ```python
    drawn = inspect("runs/2026-12-02T05-20-00_digits", errors=True, cam=True)
    drawn["figure"], drawn["layer"]
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.analysis import answers, gallery
from cnnrun.analysis.scores import worst_errors
from cnnrun.config.schema import MAX_IMAGE_PIXELS
from cnnrun.data.lazy import take
from cnnrun.errors import Problem, UserError
from cnnrun.paths import require_dir_or_new
from cnnrun.runs.names import BEST, CURVES
from cnnrun.runs.summary import require_summary
from cnnrun.runs.weights import read_metadata

MAX_CAM = 25
CAM_METHODS = ("elementwise", "gradcam")


@dataclass(frozen=True, kw_only=True)
class Look:
    """What to draw, checked: the run, its metadata, the figure, Grad-CAM's options."""

    run_dir: Path
    meta: dict
    output: Path
    layer: str | None
    method: str
    debug: bool


def inspect(
    run_dir: str | Path,
    *,
    bn: bool = False,
    errors: bool = False,
    cam: bool = False,
    inputs: Sequence[str] | None = (),
    layer: str | None = None,
    output: str | Path | None = None,
    cam_method: str = "elementwise",
    debug: bool = False,
) -> dict[str, Any]:
    """Measure a run's batchnorm layers, or draw its errors gallery or Grad-CAM heatmaps.

    Args:
        run_dir: a run folder with `best.weights.h5`.
        bn: each batchnorm's moving variance against the variance its input has at test
            time, on the validation images (the lag, and Dropout's variance shift).
        errors: the most confidently wrong test images (validation ones without a test split).
        cam: Grad-CAM heatmaps over `inputs` (the run's first test images by default), or
            over the errors with `errors`.
        inputs: images, a folder, `.npz`, `.h5` or `name:split`, for `cam`.
        layer: the row of `validate`'s table Grad-CAM looks through (default: the last
            convolution or block whose output is a map).
        output: the figure (.png, .svg or .pdf; default `RUN_DIR/curves/errors.png` or
            `cam.png`).
        cam_method: `elementwise` (each position's own gradient) or `gradcam` (averaged).

    Returns:
        What was measured or drawn, as plain data: `batchnorm` rows, or the `figure`'s path,
        the `layer`, and the errors or images shown.

    Raises:
        UserError: not a run folder, or options that do not go together (exit 2).
    """
    run = Path(run_dir)
    if bn == (errors or cam):
        raise UserError(Problem("say what to inspect: --bn, or --errors and/or --cam"))
    if not (run / BEST).is_file():
        raise UserError(Problem(f"is not a run folder with {BEST}", file=str(run)))
    if bn:
        from cnnrun.engine import start

        start(debug)
        from cnnrun.engine import api

        rows, images, backbones = api.inspect_run(run)
        return {
            "run": str(run),
            "validation_images": images,
            "batchnorm": rows,
            "backbones": backbones,
        }
    items = list(inputs or ())
    look = _look(run, errors, cam, items, layer, output, cam_method, debug)
    return _errors_figure(look, cam) if errors else _cam_figure(look, items)


def _look(
    run: Path,
    errors: bool,
    cam: bool,
    inputs: Sequence[str],
    layer: str | None,
    output: str | Path | None,
    method: str,
    debug: bool,
) -> Look:
    if method not in CAM_METHODS:
        raise UserError(
            Problem(f"expected elementwise or gradcam, got {method!r}", file="--cam-method")
        )
    if inputs and errors:
        raise UserError(
            Problem("--errors draws the run's own errors; give INPUTs with --cam alone")
        )
    if (inputs or layer) and not cam:
        raise UserError(Problem("INPUTs and --layer go with --cam"))
    out = Path(output) if output else run / CURVES / (gallery.ERRORS if errors else gallery.CAM)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UserError(Problem("expected a .png, .svg or .pdf file", file=str(out)))
    require_dir_or_new(out.parent, "a folder for -o")
    meta = read_metadata(run / BEST)
    return Look(run_dir=run, meta=meta, output=out, layer=layer, method=method, debug=debug)


def _errors_figure(look: Look, cam: bool) -> dict[str, Any]:
    """The errors gallery, with Grad-CAM over each error when asked."""
    names = list(look.meta.get("class_names") or [])
    e = _errors(look)
    heat, layer = _cam_of(look, e.images) if cam and e.errors else (None, None)
    gallery.draw_errors(e.images, e.errors, names, e.total, look.output, e.where, heat, e.wrong)
    return {
        "figure": str(look.output),
        "set": e.where,
        "wrong": e.wrong,
        "total": e.total,
        "errors": [_named(x, names) for x in e.errors],
        "layer": layer,
    }


def _errors(look: Look) -> answers.Errors:
    """The run's worst errors: kept in its folder, or (an older run) computed now."""
    summary = require_summary(look.run_dir)
    kept = answers.read_errors(look.run_dir, summary)
    if kept is not None:
        return kept
    from cnnrun.engine import start

    start(look.debug)
    from cnnrun.engine import api

    x, y, probs, where, _ = api.run_answers(str(look.run_dir))
    worst = worst_errors(y, probs, answers.LIMIT)
    wrong = int((probs.argmax(axis=1) != y).sum())
    return answers.Errors(take(x, [e["index"] for e in worst]), worst, wrong, len(y), where)


def _cam_figure(look: Look, inputs: list[str]) -> dict[str, Any]:
    """Grad-CAM over the INPUTs, or the run's first test images."""
    names = list(look.meta.get("class_names") or [])
    from cnnrun.engine import start

    start(look.debug)
    from cnnrun.engine import api

    x, labels, y, scale = _cam_inputs(look, inputs)
    weights = str(look.run_dir / BEST)
    probs, heat, layer = api.explain(weights, x, scale, look.layer, look.method)
    said = probs.argmax(axis=1)
    captions = [
        f"{'' if y is None else f'true {names[y[i]]}, '}said {names[said[i]]} "
        f"{probs[i, said[i]]:.0%}"
        for i in range(len(x))
    ]
    wrong = [False] * len(x) if y is None else [bool(y[i] != said[i]) for i in range(len(x))]
    title = (
        f"Grad-CAM at {layer} of {look.run_dir.name}: where the network looked for the class "
        "it said"
    )
    gallery.draw_cam(x, heat, captions, look.output, title, wrong)
    return {
        "figure": str(look.output),
        "layer": layer,
        "images": labels,
        "predicted": [names[i] for i in said],
    }


def _cam_inputs(look: Look, inputs: list[str]) -> tuple[np.ndarray, list[str], Any, float]:
    """The images `--cam` explains: the INPUTs, or the run's first test images."""
    from cnnrun.engine import api

    if not inputs:
        x, y, _, where, scale = api.run_answers(str(look.run_dir))
        shown = [f"{where} #{i}" for i in range(min(MAX_CAM, len(y)))]
        return x[:MAX_CAM], shown, y[:MAX_CAM], scale
    from cnnrun.data.inputs import read_inputs

    meta = look.meta
    scale = float(meta.get("preprocessing", {}).get("scale", 1 / 255))
    shape = tuple(meta.get("input_shape") or ())
    names = list(meta.get("class_names") or [])
    fit = (meta.get("config") or {}).get("data") or {}
    data = read_inputs(
        inputs,
        shape,
        names,
        scale,
        max_pixels=MAX_IMAGE_PIXELS,
        resize=fit.get("resize", "stretch"),
        interpolation=fit.get("interpolation", "bilinear"),
        decoder=fit.get("decoder", "pillow"),  # runs from before data.decoder: Pillow's
    )
    x = np.asarray(take(api.tensorflow_decoded(data.x), np.arange(min(MAX_CAM, len(data.names)))))
    y = None if data.y is None else data.y[:MAX_CAM]
    return x, [str(n) for n in data.names][:MAX_CAM], y, data.scale


def _cam_of(look: Look, images: np.ndarray) -> tuple[np.ndarray, str]:
    from cnnrun.engine import start

    start(look.debug)
    from cnnrun.engine import api

    scale = float(look.meta.get("preprocessing", {}).get("scale", 1 / 255))
    weights = str(look.run_dir / BEST)
    _, heat, layer = api.explain(weights, images, scale, look.layer, look.method)
    return heat, layer


def _named(e: dict, names: list[str]) -> dict:
    return {**e, "true_class": names[e["true"]], "predicted_class": names[e["predicted"]]}
