"""The engine's typed surface: everything the use cases (`cnnrun.app`) call, in one module.

Import it after `cnnrun.engine.start()` (which keeps TensorFlow's start-up quiet); the use
cases import it inside the function that needs it, and its types under `TYPE_CHECKING`.
"""

from __future__ import annotations

from cnnrun.engine.cam import explain, run_answers
from cnnrun.engine.decode import tensorflow_decoded
from cnnrun.engine.export import Source, export_all, load_source
from cnnrun.engine.inspect_bn import inspect_run
from cnnrun.engine.keras_io import keras_predictor, write_import
from cnnrun.engine.mlflow_model import save_mlflow_model
from cnnrun.engine.predict import Predictor, load_model, load_predictor, predict_probabilities
from cnnrun.engine.prepare import Prepared, prepare, release
from cnnrun.engine.runtimes import Checked
from cnnrun.engine.training import resume, run
from cnnrun.engine.verify import verify

__all__ = [
    "Checked",
    "Predictor",
    "Prepared",
    "Source",
    "explain",
    "export_all",
    "inspect_run",
    "keras_predictor",
    "load_model",
    "load_predictor",
    "load_source",
    "predict_probabilities",
    "prepare",
    "release",
    "resume",
    "run",
    "run_answers",
    "save_mlflow_model",
    "tensorflow_decoded",
    "verify",
    "write_import",
]
