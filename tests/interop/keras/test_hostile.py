"""Hostile Keras files are refused by cnnrun's own reading, in one plain line each, before
Keras loads anything: nesting too deep for Python, a graph with a cycle, layer configs of the
wrong shape, a regularizer without its value, a non-UTF-8 legacy config, and weights that
expand to far more than the architecture holds. Under `ulimit -v` 3 GB none makes cnnrun use
more than 1.5 GB or take more than 10 s."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.support.keras_models import seed_dropout_model

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.slow

# each file is imported in one child process under the limit; what each refusal says
CHILD = """
import json, sys, time
from cnnrun.app.keras_io import import_model
from cnnrun.errors import UserError
out = {}
for path in sys.argv[2:]:
    t0 = time.perf_counter()
    try:
        import_model(path, out_dir=sys.argv[1] + "/" + path.rsplit("/", 1)[-1])
        said = "imported"
    except UserError as e:
        said = " | ".join(p.message for p in e.problems)
    out[path.rsplit("/", 1)[-1]] = [said, time.perf_counter() - t0]
print(json.dumps(out))
"""


def _rewrite(src: Path, dst: Path, config: bytes | str, extra: dict | None = None) -> Path:
    """A copy of the `.keras` archive `src` with another config.json (and other members)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename != "config.json" and item.filename not in (extra or {}):
                zout.writestr(item, zin.read(item.filename))
        zout.writestr("config.json", config)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def _hostile_files(tmp: Path) -> dict[str, str]:
    """Each hostile file, and what its refusal must say."""
    seed_dropout_model().save(tmp / "good.keras")
    good = json.loads(zipfile.ZipFile(tmp / "good.keras").read("config.json"))
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(3, activation="softmax", name="dense")(x)
    keras.Model(inp, out).save(tmp / "functional.keras")
    func = json.loads(zipfile.ZipFile(tmp / "functional.keras").read("config.json"))
    cases = {}

    deep = "[" * 100_000 + "]" * 100_000
    _rewrite(tmp / "good.keras", tmp / "deep.keras", '{"config": ' + deep + "}")
    cases["deep.keras"] = "nests deeper than Python can read"
    nested = "[" * 150 + "]" * 150
    _rewrite(tmp / "good.keras", tmp / "nested.keras", '{"config": ' + nested + "}")
    cases["nested.keras"] = "nests more than 100 levels deep"

    cyclic = json.loads(json.dumps(func))
    conv = next(la for la in cyclic["config"]["layers"] if la["class_name"] == "Conv2D")
    conv["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "dense"
    _rewrite(tmp / "functional.keras", tmp / "cyclic.keras", json.dumps(cyclic))
    cases["cyclic.keras"] = "its graph has a cycle through layer"

    for name, bad in (("list", [1, 2]), ("number", {"class_name": "Dense", "config": 5})):
        doc = json.loads(json.dumps(good))
        doc["config"]["layers"][1] = bad
        _rewrite(tmp / "good.keras", tmp / f"{name}.keras", json.dumps(doc))
        cases[f"{name}.keras"] = "is not a layer's config"

    reg = json.loads(json.dumps(good))
    dense = next(la for la in reg["config"]["layers"] if la["class_name"] == "Dense")
    dense["config"]["kernel_regularizer"] = {"class_name": "L2", "config": {}}
    _rewrite(tmp / "good.keras", tmp / "regularizer.keras", json.dumps(reg))
    cases["regularizer.keras"] = "kernel_regularizer L2 without its l2"

    import h5py

    with h5py.File(tmp / "latin1.h5", "w") as f:
        f.create_group("model_weights")
        f.attrs["model_config"] = np.bytes_(b'{"class_name": "Sequential", "n\xe9": 1}')
    cases["latin1.h5"] = "not UTF-8"

    bomb = tmp / "bomb.keras"  # a few MB on disk, 300 MB of "weights" inside
    with zipfile.ZipFile(tmp / "good.keras") as zin, zipfile.ZipFile(bomb, "w") as zout:
        zout.writestr("config.json", zin.read("config.json"))
        zout.writestr("metadata.json", zin.read("metadata.json"))
        with zout.open(zipfile.ZipInfo("model.weights.h5"), "w", force_zip64=True) as w:
            w._compress_type = zipfile.ZIP_DEFLATED
            zeros = bytes(2**24)
            for _ in range(18):
                w.write(zeros)
    cases["bomb.keras"] = "its weights expand to"
    return cases


def test_hostile_keras_files_are_refused_within_bounds(tmp_path: Path):
    cases = _hostile_files(tmp_path)
    limit = 3 * 2**30

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "out"), *(str(tmp_path / n) for n in cases)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=bounded,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    assert os.waitstatus_to_exitcode(status) == 0, stderr[-2000:]
    said = json.loads(stdout.strip().splitlines()[-1])
    for name, expected in cases.items():
        message, seconds = said[name]
        assert expected in message, (name, message)
        assert "\n" not in message and seconds < 10, (name, seconds)
    print(f"peak {usage.ru_maxrss / 2**10:.0f} MB;", {n: round(s, 2) for n, (_, s) in said.items()})
    assert usage.ru_maxrss / 2**20 < 1.5, usage.ru_maxrss  # kilobytes: under 1.5 GB
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
