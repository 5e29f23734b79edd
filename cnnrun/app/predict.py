"""`cnnrun predict`, `cnnrun.predict` and `cnnrun.load_model`: a network rebuilt from its
weights file alone classifies inputs.

Everything the user can get wrong (options, files that would be overwritten, a weights file
without metadata) is refused before TensorFlow starts and before the first byte is written.

Example:
    ```python
    result = predict("runs/2026-11-27T10-15-03_digits", "digits:test")
    result.scores["accuracy"], result.predicted[:3]
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnrun.analysis.scores import calibration, classification_scores
from cnnrun.app.predictions import Predictions
from cnnrun.config.schema import MAX_IMAGE_PIXELS
from cnnrun.data.inputs import Inputs, from_array, read_inputs
from cnnrun.errors import GateFailed, Problem, UserError
from cnnrun.interop.keras.mapping import read_checked
from cnnrun.interop.keras.read import is_keras_model
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import gates as gating
from cnnrun.runs.names import BEST
from cnnrun.runs.weights import read_metadata

if TYPE_CHECKING:
    import keras

    from cnnrun.engine.api import Predictor

REPORT_FILES = ("confusion_matrix.png", "metrics.json", "errors.png", "reliability.png")


def weights_of(weights_or_run: str | Path) -> Path:
    """A weights or model file as given, or a run folder's `best.weights.h5`.

    Raises:
        UserError: a folder without `best.weights.h5`.
    """
    path = Path(weights_or_run)
    if not path.is_dir():
        return path
    if not (path / BEST).is_file():
        raise UserError(
            Problem(
                f"is a folder, expected a weights file (.weights.h5, .keras, .h5) or a run "
                f"folder with {BEST}",
                file=str(path),
            )
        )
    return path / BEST


def predict(
    weights_or_run: str | Path,
    inputs: str | Path | Sequence[str | Path] | np.ndarray,
    *,
    config: str | Path | None = None,
    overrides: Sequence[str] | None = (),
    batch_size: int = 256,
    skip_bad: bool = False,
    x_dataset: str = "x",
    y_dataset: str = "y",
    max_image_pixels: int | None = None,
    class_names: Sequence[str] | None = None,
    scale: float | None = None,
    output: str | Path | None = None,
    fmt: str = "csv",
    top_k: int = 1,
    probs: bool = False,
    report: str | Path | None = None,
    overwrite: bool = False,
    fail_under: Sequence[str] | None = (),
    debug: bool = False,
) -> Predictions:
    """Classify `inputs` with the network a weights file describes.

    Args:
        weights_or_run: a cnnrun `.weights.h5`, a run folder (its best weights), or a Keras
            model file (`.keras`, legacy `.h5`).
        inputs: image files; or one folder, `.npz`, `.npy` or `.h5`/`.hdf5` file; or a
            built-in split such as `digits:test`; or a NumPy batch (N, height, width[,
            channels]) of pixels in the training data's own units (an integer array is
            multiplied by the run's pixel scale, a float one is used as it is).
        config, overrides: the config that built plain Keras weights (no cnnrun metadata).
        batch_size: images per forward pass.
        skip_bad: leave undecodable images out (listed in `skipped`) instead of refusing.
        x_dataset, y_dataset: the dataset names in an HDF5 input.
        max_image_pixels: image files larger than this are refused before decoding.
        class_names, scale: a Keras model file's class names and pixel scaling.
        output: write the predictions there (CSV, or JSON with `fmt="json"`), atomically.
        fmt, top_k, probs: the written rows: format, how many classes, every probability.
        report: a folder for the confusion matrix, metrics, errors gallery and reliability
            diagram of labelled inputs.
        overwrite: replace `output` and `report` files that exist.
        fail_under: `accuracy=VALUE`: raise `GateFailed` below it.
        debug: keep TensorFlow's start-up messages on stderr.

    Raises:
        UserError: bad options, inputs or files, before anything is written.
        GateFailed: a `fail_under` bar was missed (`.result` is the predictions).
    """
    path = weights_of(weights_or_run)
    out = Path(output) if output is not None else None
    folder = Path(report) if report is not None else None
    if not isinstance(inputs, np.ndarray) and not _items(inputs):
        raise UserError(
            Problem(
                "no INPUT given",
                hint="pass image files, a folder, an .npz, an .h5 file or a split like digits:test",
            )
        )
    gates = _check(path, config, class_names, scale, fmt, out, folder, overwrite, fail_under)
    from cnnrun.engine import start

    start(debug)
    from cnnrun.engine import api

    if is_keras_model(path):
        pred = api.keras_predictor(path, list(class_names) if class_names else None, scale)
    else:
        pred = api.load_predictor(path, _path(config), list(overrides or ()))
    data = _inputs(inputs, pred, skip_bad, x_dataset, y_dataset, max_image_pixels, scale)
    data = replace(data, x=api.tensorflow_decoded(data.x))  # decoded as training decoded
    if gates and data.y is None:
        raise UserError(
            Problem(
                "--fail-under needs labelled inputs (class sub-folders, an .npz with y, "
                "or a built-in split)"
            )
        )
    probabilities = api.predict_probabilities(pred, data.x, data.scale, batch_size)
    result = Predictions(
        inputs=data.names,
        class_names=pred.class_names,
        probabilities=probabilities,
        labels=data.y,
        scores=_scores(data.y, probabilities, pred.class_names),
        skipped=data.skipped,
        assumed=list(pred.meta.get("assumed") or []),
        notes=[data.note] if data.note else [],
        weights=path,
    )
    if out:
        result.write(out, fmt, top_k, probs)
    if folder is not None and data.y is not None:
        result.write_report(folder, data.x)
    missed = gating.missed(gates, {"accuracy": result.scores["accuracy"]}) if result.scores else []
    if missed:
        raise GateFailed(missed, result)
    return result


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _check(
    path: Path,
    config: str | Path | None,
    class_names: Sequence[str] | None,
    scale: float | None,
    fmt: str,
    output: Path | None,
    report: Path | None,
    overwrite: bool,
    fail_under: Sequence[str] | None,
) -> dict[str, float]:
    """Every refusal that needs no TensorFlow; returns the gates."""
    if fmt not in ("csv", "json"):
        raise UserError(Problem(f"expected csv or json, got {fmt!r}", file="--format"))
    gates = gating.parse_gates(fail_under or ())
    gating.require_known(gates, ["accuracy"], "predict")
    if output:
        require_dir_or_new(output.parent, "a folder for --output")
    if report:
        require_dir_or_new(report, "a folder for --report")
    targets = [output] if output else []
    targets += [report / n for n in REPORT_FILES] if report else []
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise UserError(
            [
                Problem(
                    "exists already; cnnrun does not overwrite it",
                    file=str(p),
                    hint="choose another name, or pass --overwrite",
                )
                for p in existing
            ]
        )
    if is_keras_model(path):
        if config is not None:
            raise UserError(Problem("a Keras model file holds its architecture: drop --config"))
        read_checked(path)  # refused before TensorFlow starts
        return gates
    if class_names is not None or scale is not None:
        raise UserError(
            Problem(
                "--class-names and --scale are for Keras model files (.keras, .h5); a cnnrun "
                "weights file records its own",
                file=str(path),
            )
        )
    if not read_metadata(path) and config is None:
        raise UserError(
            Problem(
                "holds plain Keras weights without cnnrun metadata",
                file=str(path),
                hint="pass the config that built it with --config",
            )
        )
    return gates


def _inputs(
    inputs: str | Path | Sequence[str | Path] | np.ndarray,
    pred: Predictor,
    skip_bad: bool,
    x_dataset: str,
    y_dataset: str,
    max_image_pixels: int | None,
    scale: float | None,
) -> Inputs:
    shape = tuple(pred.config.model.input_shape or ())
    if isinstance(inputs, np.ndarray):
        return from_array(inputs, shape, pred.scale)
    items = _items(inputs)
    image_scale = scale if scale is not None else 1 / 255  # image files are 0..255
    return read_inputs(
        items,
        shape,
        pred.class_names,
        pred.scale,
        skip_bad,
        x_dataset,
        y_dataset,
        max_image_pixels or MAX_IMAGE_PIXELS,
        image_scale,
        pred.config.data.resize,
        pred.config.data.interpolation,
        pred.config.data.decoder,
    )


def _items(inputs: str | Path | Sequence[str | Path]) -> list[str]:
    return [str(inputs)] if isinstance(inputs, str | Path) else [str(i) for i in inputs]


def _scores(y: np.ndarray | None, probabilities: np.ndarray, names: list[str]) -> dict | None:
    if y is None:
        return None
    scores = classification_scores(y, probabilities.argmax(axis=1), names)
    scores["calibration"] = calibration(y, probabilities)
    return scores


def load_model(weights_or_run: str | Path, debug: bool = False) -> tuple[keras.Model, dict]:
    """The network of a cnnrun weights file (or a run folder's best), with its weights.

    The model takes raw pixels, in the units the training data was stored in (0..255 for
    image files and uint8 arrays, 0..16 for the built-in digits): its first layer, a Keras
    `Rescaling` named `pixel_scale`, multiplies them by the run's pixel scale. Its output is
    what the network's last layer gives: class probabilities after a softmax (or one sigmoid
    unit), logits after a linear layer.

    Returns:
        The model and the file's metadata (`config`, `class_names`, `input_shape`,
        `preprocessing.scale`, `epoch`, `monitor`, `value`, versions).

    Raises:
        UserError: a missing, unreadable or foreign weights file.
    """
    path = weights_of(weights_or_run)
    read_metadata(path)  # refused before TensorFlow starts
    from cnnrun.engine import start

    start(debug)
    import keras

    from cnnrun.engine import api

    network, meta = api.load_model(path)
    scale = float(meta.get("preprocessing", {}).get("scale", 1 / 255))
    inputs = keras.Input(shape=network.input_shape[1:], name="pixels")
    scaled = keras.layers.Rescaling(scale, name="pixel_scale")(inputs)
    return keras.Model(inputs, network(scaled), name=network.name), meta
