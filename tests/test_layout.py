"""The layers of the whole package: no module outside the engine imports TensorFlow or
Keras, and the engine is where they are."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import cnnrun
from tests.support import ROOT

CORE = sorted(
    m.name
    for m in pkgutil.walk_packages(cnnrun.__path__, "cnnrun.")
    if not m.name.startswith("cnnrun.engine.") and m.name != "cnnrun.__main__"
)
HEAVY = ("tensorflow", "keras")

# Imports the modules named in argv in turn, printing after each the heavy packages loaded
# so far, and stops at the first that loads one (or whose import raises).
PROBE = f"""
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
    heavy = [m for m in {HEAVY!r} if m in sys.modules]
    print(json.dumps([name, heavy]), flush=True)
    if heavy:
        break
"""


@pytest.fixture(scope="module")
def heavy_after_import() -> dict[str, list[str]]:
    """For each core module, what heavy packages importing it into a fresh interpreter loads.

    One interpreter imports the modules one after another while none loads TensorFlow or
    Keras: then each answer is the fresh interpreter's (a module an earlier one imported was
    checked clean with it). After a module that loads one, or whose import fails, a fresh
    interpreter goes on with the next, so one bad module is not blamed on the rest. One
    interpreter start instead of one per module.
    """
    found: dict[str, list[str]] = {}
    todo = list(CORE)
    while todo:
        r = subprocess.run(
            [sys.executable, "-c", PROBE, *todo], cwd=ROOT, capture_output=True, text=True
        )
        answers = [json.loads(line) for line in r.stdout.splitlines()]
        found |= dict(answers)
        done = len(answers)
        if r.returncode != 0 and done < len(todo):  # the import of todo[done] raised
            lines = r.stderr.strip().splitlines() or ["(no output)"]
            found[todo[done]] = [f"import failed: {lines[-1]}"]
            done += 1
        todo = todo[done:]
    return found


@pytest.mark.parametrize("module", CORE)
def test_no_module_outside_the_engine_imports_tensorflow(module: str, heavy_after_import):
    heavy = heavy_after_import[module]
    assert not heavy, heavy


def test_the_engine_is_where_tensorflow_is():
    assert "cnnrun.engine" in CORE  # the package itself: only `load()`, imported lazily
    engine = [m.name for m in pkgutil.walk_packages(cnnrun.__path__, "cnnrun.")]
    assert {"cnnrun.engine.training", "cnnrun.engine.layers"} <= set(engine)
