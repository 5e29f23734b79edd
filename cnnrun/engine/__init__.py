"""The engine: every module that imports TensorFlow or Keras lives in this package.

Nothing outside it imports it at module level; the core calls `load` when work needs it.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def load(debug: bool = False) -> ModuleType:
    """Import the engine's training module, keeping TensorFlow's start-up chatter off stderr.

    TensorFlow's C++ side writes "Could not find cuda drivers" and similar lines straight to
    file descriptor 2 before its own log level applies, so stderr is pointed at /dev/null for
    the import only. `debug` keeps everything.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if debug:
        from cnnrun.engine import training

        return training
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, once
        from cnnrun.engine import training
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return training
