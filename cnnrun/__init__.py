"""cnnrun: an experiment runner for convolutional networks on Keras 3, from the command line
or from Python.

The Python API is the command line's own use cases (`cnnrun.app`), with the same checks and
the same errors (`UserError` for what the user must fix, with file, field and line):

    >>> import cnnrun
    >>> plan = cnnrun.validate("configs/digits.yaml")
    >>> plan.table.total_params
    9994

`import cnnrun` is light: each name is imported on first use (PEP 562), so TensorFlow starts
only when something trains or predicts. See docs/python.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnnrun.version import __version__

if TYPE_CHECKING:
    from cnnrun.app.inspect import inspect
    from cnnrun.app.keras_io import export, import_model
    from cnnrun.app.predict import load_model, predict
    from cnnrun.app.predictions import Predictions
    from cnnrun.app.search.run import SearchOutcome, search
    from cnnrun.app.sweep.run import SweepOutcome, sweep
    from cnnrun.app.train import train
    from cnnrun.app.validate import validate
    from cnnrun.errors import Diverged, GateFailed, Interrupted, UserError
    from cnnrun.plan import Plan
    from cnnrun.runs.summary import RunSummary

# name -> the module that defines it
_API = {
    "train": "cnnrun.app.train",
    "validate": "cnnrun.app.validate",
    "predict": "cnnrun.app.predict",
    "load_model": "cnnrun.app.predict",
    "Predictions": "cnnrun.app.predictions",
    "sweep": "cnnrun.app.sweep.run",
    "SweepOutcome": "cnnrun.app.sweep.run",
    "search": "cnnrun.app.search.run",
    "SearchOutcome": "cnnrun.app.search.run",
    "inspect": "cnnrun.app.inspect",
    "import_model": "cnnrun.app.keras_io",
    "export": "cnnrun.app.keras_io",
    "Plan": "cnnrun.plan",
    "RunSummary": "cnnrun.runs.summary",
    "UserError": "cnnrun.errors",
    "Diverged": "cnnrun.errors",
    "GateFailed": "cnnrun.errors",
    "Interrupted": "cnnrun.errors",
}

__all__ = [
    "Diverged",
    "GateFailed",
    "Interrupted",
    "Plan",
    "Predictions",
    "RunSummary",
    "SearchOutcome",
    "SweepOutcome",
    "UserError",
    "__version__",
    "export",
    "import_model",
    "inspect",
    "load_model",
    "predict",
    "search",
    "sweep",
    "train",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'cnnrun' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # the next lookup does not come back here
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
