"""Predicting: a network rebuilt from its weights file classifies inputs; scores and files.

`predict` is what `cnnrun predict` calls. Everything the user can get wrong (options, files
that would be overwritten, a weights file without metadata) is refused before TensorFlow
starts and before the first byte is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnrun import atomic
from cnnrun.config.schema import MAX_IMAGE_PIXELS
from cnnrun.errors import EXIT_FAILED, EXIT_OK, Problem, UserError
from cnnrun.interop.keras.read import is_keras_model
from cnnrun.paths import require_dir_or_new
from cnnrun.runs import gates as gating
from cnnrun.runs.folder import BEST
from cnnrun.runs.weights import read_metadata


@dataclass
class PredictRequest:
    """What `cnnrun predict` was asked for (see its `--help`)."""

    inputs: list[str] = field(default_factory=list)
    weights: Path | None = None
    run: Path | None = None
    config: Path | None = None
    sets: list[str] = field(default_factory=list)
    batch_size: int = 256
    fmt: str = "csv"
    output: Path | None = None
    probs: bool = False
    top_k: int = 1
    report: Path | None = None
    fail_under: list[str] = field(default_factory=list)
    skip_bad: bool = False
    x_dataset: str = "x"
    y_dataset: str = "y"
    overwrite: bool = False
    debug: bool = False
    max_image_pixels: int | None = None  # None: the default limit
    class_names: list[str] | None = None  # a Keras model file's classes
    scale: float | None = None  # a Keras model file's pixel scaling


@dataclass
class PredictOutcome:
    """The predictions as text (for stdout when no `--output`), scores, and what was skipped."""

    code: int
    text: str
    count: int
    scores: dict | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    missed: list[str] = field(default_factory=list)


def _prediction_rows(
    names: list[str], probs: Any, classes: list[str], labels: Any, top_k: int, with_probs: bool
) -> list[dict]:
    import numpy as np

    order = np.argsort(-probs, axis=1, kind="stable")[:, : max(1, top_k)]
    rows = []
    for i, name in enumerate(names):
        best = order[i]
        row: dict[str, Any] = {
            "input": name,
            "predicted": classes[best[0]],
            "probability": round(float(probs[i, best[0]]), 6),
        }
        if labels is not None:
            row["label"] = classes[labels[i]]
        for rank, c in enumerate(best[1:], start=2):
            row[f"top_{rank}"] = classes[c]
            row[f"probability_{rank}"] = round(float(probs[i, c]), 6)
        if with_probs:
            for c, cname in enumerate(classes):
                row[f"p:{cname}"] = round(float(probs[i, c]), 6)
        rows.append(row)
    return rows


def _csv_text(rows: list[dict]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(rows[0]) if rows else ["input"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _refuse_overwrite(paths: list[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
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


def _weights_path(req: PredictRequest) -> Path:
    if req.fmt not in ("csv", "json"):
        raise UserError(Problem(f"expected csv or json, got {req.fmt!r}", file="--format"))
    if (req.weights is None) == (req.run is None):
        raise UserError(Problem("give exactly one of --weights FILE and --run RUN_DIR"))
    return req.weights if req.weights is not None else req.run / BEST  # type: ignore[operator]


def _check(req: PredictRequest, path: Path) -> dict[str, float]:
    """Every refusal that needs no TensorFlow; returns the gates."""
    gates = gating.parse_gates(req.fail_under)
    gating.require_known(gates, ["accuracy"], "predict")
    if req.output:
        require_dir_or_new(req.output.parent, "a folder for --output")
    if req.report:
        require_dir_or_new(req.report, "a folder for --report")
    targets = [req.output] if req.output else []
    if req.report:
        targets += [req.report / n for n in ("confusion_matrix.png", "metrics.json",
                                              "errors.png", "reliability.png")]  # fmt: skip
    _refuse_overwrite(targets, req.overwrite)
    if is_keras_model(path):
        if req.config is not None:
            raise UserError(Problem("a Keras model file holds its architecture: drop --config"))
        return gates
    if req.class_names is not None or req.scale is not None:
        raise UserError(
            Problem(
                "--class-names and --scale are for Keras model files (.keras, .h5); a cnnrun "
                "weights file records its own",
                file=str(path),
            )
        )
    if not read_metadata(path) and req.config is None:
        raise UserError(
            Problem(
                "holds plain Keras weights without cnnrun metadata",
                file=str(path),
                hint="pass the config that built it with --config",
            )
        )
    return gates


def _text(
    req: PredictRequest, path: Path, rows: list[dict], scores: Any, skipped: list, assumed: list
) -> str:
    if req.fmt == "csv":
        return _csv_text(rows)
    doc = {
        "weights": str(path),
        "assumed": assumed,
        "predictions": rows,
        "scores": scores,
        "skipped": [{"file": f, "reason": r} for f, r in skipped],
    }
    return json.dumps(doc, indent=2) + "\n"


def predict(req: PredictRequest) -> PredictOutcome:
    """Classify `req.inputs` with the network in the weights file; write the files asked for.

    Raises:
        UserError: bad options, inputs or files (exit 2), before anything is written.
    """
    from cnnrun import engine
    from cnnrun.analysis.scores import calibration, classification_scores
    from cnnrun.data.inputs import read_inputs

    path = _weights_path(req)
    gates = _check(req, path)
    engine.load(req.debug)  # TensorFlow's start-up kept quiet
    from cnnrun.engine.predict import load_predictor, predict_probabilities

    if is_keras_model(path):
        from cnnrun.engine.keras_io import keras_predictor

        pred = keras_predictor(path, req.class_names, req.scale)
    else:
        pred = load_predictor(path, req.config, req.sets)
    assumed = list(pred.meta.get("assumed") or [])
    image_scale = req.scale if req.scale is not None else 1 / 255  # image files are 0..255
    shape = tuple(pred.config.model.input_shape or ())
    data = read_inputs(
        req.inputs,
        shape,
        pred.class_names,
        pred.scale,
        req.skip_bad,
        req.x_dataset,
        req.y_dataset,
        req.max_image_pixels or MAX_IMAGE_PIXELS,
        image_scale,
    )
    if gates and data.y is None:
        raise UserError(
            Problem("--fail-under needs labelled inputs (class sub-folders, an .npz with y, "
                    "or a built-in split)")
        )  # fmt: skip
    probabilities = predict_probabilities(pred, data.x, data.scale, req.batch_size)
    rows = _prediction_rows(
        data.names, probabilities, pred.class_names, data.y, req.top_k, req.probs
    )
    scores = None
    if data.y is not None:
        scores = classification_scores(data.y, probabilities.argmax(axis=1), pred.class_names)
        scores["calibration"] = calibration(data.y, probabilities)
    text = _text(req, path, rows, scores, data.skipped, assumed)
    _write(req, path, text, scores)
    if req.report and scores is not None:
        _gallery(req.report, data, probabilities, pred.class_names, scores["calibration"])
    missed = gating.missed(gates, {"accuracy": scores["accuracy"]}) if scores else []
    code = EXIT_FAILED if missed else EXIT_OK
    notes = (["assumed: " + "; ".join(assumed)] if assumed else []) + [data.note]
    note = "; ".join(n for n in notes if n)
    return PredictOutcome(code, text, len(rows), scores, data.skipped, note, missed)


def _gallery(
    folder: Path, data: Any, probabilities: Any, class_names: list[str], calib: dict
) -> None:
    """The report's errors gallery and reliability diagram of labelled inputs."""
    import numpy as np

    from cnnrun.analysis.gallery import ERRORS, RELIABILITY, draw_errors, draw_reliability
    from cnnrun.analysis.scores import worst_errors
    from cnnrun.data.hdf5 import take

    worst = worst_errors(data.y, probabilities)
    rows = np.array([e["index"] for e in worst], dtype=np.int64)
    wrong = int((probabilities.argmax(axis=1) != data.y).sum())
    draw_errors(take(data.x, rows), worst, class_names, len(data.y), folder / ERRORS, "inputs",
                None, wrong)  # fmt: skip
    draw_reliability(calib, folder / RELIABILITY, "inputs")


def _write(req: PredictRequest, path: Path, text: str, scores: dict | None) -> None:
    if req.output:
        req.output.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(req.output, text)
    if req.report and scores is not None:
        from cnnrun.analysis.curves import draw_confusion

        req.report.mkdir(parents=True, exist_ok=True)
        draw_confusion(scores, req.report / "confusion_matrix.png", title=path.parent.name)
        atomic.write_text(req.report / "metrics.json", json.dumps(scores, indent=2))
