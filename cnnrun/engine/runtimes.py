"""Each exported artifact run in its own runtime (Keras; `tf.saved_model.load` and its `serve`
signature; onnxruntime; the LiteRT interpreter of ai-edge-litert) and compared with cnnrun's
own probabilities.

Example:
    ```python
    result = check("onnx", Path("export/model.onnx"), config, x, y, reference)
    result.ok, result.max_diff
    ```
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cnnrun.config.schema import Config
from cnnrun.engine.predict import to_probabilities

# An artifact whose probabilities differ from cnnrun's by more than this disagrees.
TOLERANCE = 1e-4
# A quantized artifact may lose at most this much test accuracy (one point).
QUANTIZED_DROP = 0.01


@dataclass
class Checked:
    """One artifact, checked in its runtime."""

    format: str
    path: str
    max_diff: float
    ok: bool
    accuracy: float | None = None
    reference_accuracy: float | None = None
    quantize: str | None = None
    refused: str | None = None  # why it was not run (`cnnrun.engine.artifacts`)

    def as_dict(self) -> dict:
        return asdict(self)


def run_artifact(fmt: str, path: Path, x: np.ndarray) -> np.ndarray:
    """The artifact's raw outputs on `x`, computed by its own runtime."""
    if fmt == "keras":
        return keras.saving.load_model(path, compile=False, safe_mode=True).predict(x, verbose=0)
    if fmt == "savedmodel":
        loaded = tf.saved_model.load(str(path))  # held: its variables die with it
        return loaded.serve(tf.constant(x)).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    return _run_litert(path, x)


def _run_litert(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    data = x
    if inp["dtype"] == np.int8:  # full-integer: quantize the input as the converter says
        s, z = inp["quantization"]
        data = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)
    interpreter.set_tensor(inp["index"], data)
    interpreter.invoke()
    raw = interpreter.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        s, z = out["quantization"]
        raw = (raw.astype(np.float32) - z) * s
    return raw


def check(
    fmt: str,
    path: Path,
    config: Config,
    x: np.ndarray,
    y: np.ndarray | None,
    reference: np.ndarray,
    quantize: str | None = None,
) -> Checked:
    """Run an artifact and compare it with cnnrun's probabilities (or its accuracy, quantized)."""
    probs = to_probabilities(run_artifact(fmt, path, x), config)
    diff = float(np.max(np.abs(probs - reference)))
    if quantize is None or y is None:
        return Checked(fmt, str(path), diff, diff <= TOLERANCE, quantize=quantize)
    acc = float(np.mean(probs.argmax(1) == y))
    ref = float(np.mean(reference.argmax(1) == y))
    return Checked(fmt, str(path), diff, acc >= ref - QUANTIZED_DROP, acc, ref, quantize)
