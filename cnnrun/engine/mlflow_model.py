"""The best network as an MLflow model (the Keras flavour), for `mlflow.pyfunc.load_model`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cnnrun.engine.predict import load_predictor


def save_mlflow_model(best: Path, out: Path) -> None:
    """Write the network of a weights file as an MLflow Keras model folder at `out`.

    The network is the one `cnnrun export --format keras` writes: float32, taking images
    already multiplied by the run's pixel scale (kept in the model's metadata, with the class
    names), giving class probabilities.
    """
    import mlflow.keras
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    pred = load_predictor(best)
    shape = (-1, *pred.config.model.input_shape)
    classes = (-1, int(pred.model.output_shape[-1]))
    f32 = np.dtype("float32")
    signature = ModelSignature(Schema([TensorSpec(f32, shape)]), Schema([TensorSpec(f32, classes)]))
    mlflow.keras.save_model(
        pred.model,
        str(out),
        signature=signature,
        # given, so MLflow does not start a process to guess them
        pip_requirements=[f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"],
        metadata={"class_names": pred.class_names, "pixel_scale": pred.scale},
    )
