"""Trained networks out to the formats people deploy, each checked in its own runtime.

Through Keras's own `model.save` (`.keras`) and `model.export` (SavedModel, ONNX, LiteRT):
the older converters fail on Keras 3 (`TFLiteConverter.from_keras_model`,
tensorflow/tensorflow#63867; `tf2onnx.convert.from_keras`, onnx/tensorflow-onnx#2329). The
network is rebuilt in float32 whatever trained it. After writing, every artifact is loaded
in its runtime (`cnnrun.engine.runtimes`) and run on a reference batch, against cnnrun's own
probabilities; the batch and those probabilities stay beside the artifacts, so `--verify`
can run the same check later.

Example:
    ```python
    results = export_all(load_source(Path("runs/2026-12-01T21-45-37_digits")), ["onnx"],
                         Path("export"))
    results[0].ok, results[0].max_diff  # (True, 4e-07)
    ```
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun import atomic
from cnnrun.config.schema import Config
from cnnrun.data.lazy import take
from cnnrun.engine.model import from_logits
from cnnrun.engine.predict import to_probabilities
from cnnrun.engine.runtimes import Checked, check
from cnnrun.errors import Problem, UserError
from cnnrun.hashes import json_hash
from cnnrun.interop.keras.read import CNNRUN_MEMBER
from cnnrun.runs.names import ARTIFACTS, EXPORT, REFERENCE
from cnnrun.version import __version__

REFERENCE_IMAGES = 64


@dataclass
class Source:
    """What is exported: the float32 network and what a deployment needs to know.

    Args:
        model: the network, float32.
        config: its cnnrun config.
        class_names: the output classes, in order.
        scale: multiplies stored pixels into the network's input range.
        x: reference images, scaled; y: their labels, or None.
        origin: where the reference images came from.
        calibration: training images for int8 calibration (scaled), or None.
    """

    model: keras.Model
    config: Config
    class_names: list[str]
    scale: float
    x: np.ndarray
    y: np.ndarray | None
    origin: str
    calibration: np.ndarray | None = None


def sidecar(source: Source, fmt: str, quantize: str | None) -> dict:
    """What a deployment needs to preprocess as training did, beside each artifact."""
    return {
        "format": fmt,
        "class_names": source.class_names,
        "input_shape": [None, *source.config.model.input_shape],
        "input_dtype": "int8" if quantize == "int8" else "float32",
        "pixel_scale": source.scale,
        "preprocessing": f"multiply stored pixels (0..255 for images) by {source.scale:g}",
        "from_logits": from_logits(source.config),
        "quantize": quantize,
        "cnnrun_config_hash": json_hash(source.config.resolved()),
        "cnnrun_version": __version__,
    }


def _write_keras(source: Source, path: Path) -> None:
    meta = {
        "config": source.config.resolved(),
        "class_names": source.class_names,
        "scale": source.scale,
        "cnnrun_version": __version__,
    }
    with atomic.atomic_path(path) as tmp:  # the temporary name keeps the .keras suffix
        keras.saving.save_model(source.model, tmp)
        with zipfile.ZipFile(tmp, "a") as z:  # Keras reads its own members and ignores this one
            z.writestr(CNNRUN_MEMBER, json.dumps(meta))


def _litert_options(source: Source, quantize: str | None) -> dict:
    # Builtin operators only: the interpreter in ai-edge-litert has no TF-ops delegate.
    ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        if quantize == "int8"
        else tf.lite.OpsSet.TFLITE_BUILTINS
    ]
    options: dict[str, Any] = {"target_spec": {"supported_ops": ops}}
    if quantize == "float16":
        spec = {"supported_ops": ops, "supported_types": [tf.float16]}
        options = {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": spec}
    elif quantize == "int8":
        images = source.calibration if source.calibration is not None else source.x
        sample = images[:200].astype(np.float32)

        def representative() -> Any:
            for i in range(len(sample)):
                yield [sample[i : i + 1]]

        options.update(
            optimizations=[tf.lite.Optimize.DEFAULT],
            representative_dataset=representative,
            inference_input_type=tf.int8,
            inference_output_type=tf.int8,
        )
    return options


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """A library's logger held to errors: tf2onnx logs a traceback when one of its graph
    optimizers gives up on a pattern (MobileNetV3's hard-swish), then converts without it."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def write_artifact(source: Source, fmt: str, out: Path, quantize: str | None = None) -> Path:
    """Write one format into `out` with its JSON beside it.

    Raises:
        UserError: a network LiteRT's builtin operators cannot express.
    """
    path = out / ARTIFACTS[fmt]
    if fmt == "keras":
        _write_keras(source, path)
    elif fmt == "savedmodel":
        source.model.export(str(path), format="tf_saved_model", verbose=False)
    elif fmt == "onnx":
        with warnings.catch_warnings(), _quiet("tf2onnx"):
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes np.object
            source.model.export(str(path), format="onnx", verbose=False)
    else:
        try:
            source.model.export(
                str(path), format="litert", verbose=False, **_litert_options(source, quantize)
            )
        except Exception as e:
            first = str(e).strip().splitlines()[-1][:300] if str(e) else type(e).__name__
            raise UserError(
                Problem(
                    f"LiteRT cannot express this network with its builtin operators: {first}",
                    file=str(path),
                    hint="export it as onnx or savedmodel instead",
                )
            ) from None
    atomic.write_text(
        out / f"{ARTIFACTS[fmt]}.json", json.dumps(sidecar(source, fmt, quantize), indent=2)
    )
    return path


def export_all(
    source: Source, formats: list[str], out: Path, quantize: str | None = None
) -> list[Checked]:
    """Write every format into `out`, keep the reference batch, check each artifact.

    Each artifact is written and checked in a staging folder inside `out` and moved into
    place only when whole and within tolerance, so a full disk or a failed check leaves no
    half-written artifact; `export.json`, written last, lists only the artifacts in place.

    Raises:
        UserError: `int8` without the training data to calibrate on, before anything is
            written; a network LiteRT cannot express.
    """
    if quantize == "int8" and source.calibration is None:
        raise UserError(
            Problem(
                f"--quantize int8 calibrates on training images, and the data is not at hand "
                f"(the reference would be {source.origin})",
                file=str(out),
                hint="export from where the run's data is, or use --quantize float16",
            )
        )
    out.mkdir(parents=True, exist_ok=True)
    reference = to_probabilities(source.model.predict(source.x, verbose=0), source.config)
    arrays = {"x": source.x, "probabilities": reference}
    if source.y is not None:
        arrays["y"] = source.y
    with atomic.atomic_path(out / REFERENCE) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    results, placed = [], []
    try:
        for fmt in formats:
            q = quantize if fmt == "litert" else None
            with tempfile.TemporaryDirectory(prefix=f".staging-{fmt}-", dir=out) as staging:
                path = write_artifact(source, fmt, Path(staging), q)
                checked = check(fmt, path, source.config, source.x, source.y, reference, q)
                if checked.ok:
                    _place(path, out)
                    _place(path.with_name(f"{path.name}.json"), out)
                    placed.append(fmt)
            kept = "" if checked.ok else " (not kept: outside its tolerance)"
            results.append(replace(checked, path=f"{out / ARTIFACTS[fmt]}{kept}"))
    finally:
        document = {
            "config": source.config.resolved(),
            "formats": placed,
            "quantize": quantize,
            "reference": source.origin,
            "cnnrun_version": __version__,
        }
        atomic.write_text(out / EXPORT, json.dumps(document, indent=2))
    return results


def _place(path: Path, out: Path) -> None:
    """Move a finished file or folder into `out`, over an older one of the same name."""
    final = out / path.name
    if final.is_dir():  # os.replace cannot move a folder onto a full one
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(path, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(path, final)


def load_source(target: Path) -> Source:
    """The network of a run folder, a cnnrun weights file or a Keras model file, with a
    reference batch: the run's test images (validation images without a test split), or
    seeded random images when the data is not at hand."""
    from cnnrun.engine.keras_io import read_keras
    from cnnrun.engine.predict import load_predictor
    from cnnrun.interop.keras.read import is_keras_model
    from cnnrun.runs.names import BEST

    if is_keras_model(target):
        imp = read_keras(target)
        model, config, names = imp.model, imp.config, imp.class_names
        scale, base = imp.scale if imp.scale is not None else 1 / 255, target.parent
    else:
        weights = target / BEST if target.is_dir() else target
        pred = load_predictor(weights)
        model, config, names, scale, base = (
            pred.model,
            pred.config,
            pred.class_names,
            pred.scale,
            weights.parent,
        )
    x, y, origin, calibration = _reference(config, base)
    return Source(model, config, names, scale, x, y, origin, calibration)


def _reference(
    config: Config, base: Path
) -> tuple[np.ndarray, np.ndarray | None, str, np.ndarray | None]:
    from cnnrun.engine.pipeline import load_splits

    try:
        splits = load_splits(config, base)
    except (UserError, OSError, ValueError):
        shape = tuple(config.model.input_shape or ())
        x = np.random.default_rng(0).random((REFERENCE_IMAGES, *shape), dtype=np.float32)
        return x, None, f"{REFERENCE_IMAGES} seeded random images (the data is not at hand)", None
    test = splits.y_test is not None and len(splits.y_test) > 0
    xs, ys = (splits.x_test, splits.y_test) if test else (splits.x_val, splits.y_val)
    n = min(len(ys), 256)
    x = take(xs, np.arange(n)).astype(np.float32) * np.float32(splits.scale)
    calibration = take(splits.x_train, np.arange(min(200, len(splits.y_train)))).astype(
        np.float32
    ) * np.float32(splits.scale)
    origin = f"the first {n} {'test' if test else 'validation'} images"
    return x, np.asarray(ys[:n]), origin, calibration
