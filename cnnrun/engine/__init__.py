"""The engine: every module that imports TensorFlow or Keras lives in this package.

Nothing outside it imports it but the use cases (`cnnrun.app`), and they only inside the
function that needs it: `start` imports TensorFlow, then `cnnrun.engine.api` is the engine's
typed surface.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys


class _KerasRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning about Keras's own train,
    test and predict functions. TensorFlow counts the traces of every tf.function made from
    the same Python code together, so a process that builds one model per run (a sweep's
    worker, a notebook training again) is warned at its fifth model, though each model's
    functions are traced once, as they must be."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("triggered tf.function retracing" in text and "TensorFlowTrainer." in text)


def start(debug: bool = False) -> None:
    """Import TensorFlow and the engine, keeping TensorFlow's start-up chatter off stderr.

    TensorFlow's C++ side writes "Could not find cuda drivers" and similar lines straight to
    file descriptor 2 before its own log level applies, so stderr is pointed at /dev/null for
    the import only. `debug` keeps everything. A second call does nothing.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf_log = logging.getLogger("tensorflow")
    if not any(isinstance(f, _KerasRetracing) for f in tf_log.filters):
        tf_log.addFilter(_KerasRetracing())
    if debug or "cnnrun.engine.api" in sys.modules:
        importlib.import_module("cnnrun.engine.api")
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, once
        importlib.import_module("cnnrun.engine.api")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
