"""`cnnrun.engine.export` and `cnnrun.engine.runtimes`: a run exported to four formats, each
checked in its own runtime (and by the README's deployment snippets), `--verify` catching
weights changed after export, nothing overwritten, and int8 LiteRT checked on accuracy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support import ROOT

keras = pytest.importorskip("keras")


def test_export_all_four_formats_verified_in_their_runtimes(cli, digits_run_copy: Path):
    run = digits_run_copy
    r = cli("export", run, "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [a["format"] for a in doc["artifacts"]] == ["keras", "savedmodel", "onnx", "litert"]
    assert all(a["ok"] and a["max_diff"] <= 1e-4 for a in doc["artifacts"])
    out = run / "export"
    side = json.loads((out / "model.onnx.json").read_text())
    assert side["class_names"] == [str(i) for i in range(10)] and side["input_shape"] == [
        None,
        8,
        8,
        1,
    ]
    # the deployment snippets of the README, in their runtimes
    import onnxruntime

    x = np.load(out / "reference.npz")["x"][:1]
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    p = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert p.shape == (1, 10)
    assert cli("export", "--verify", out).code == 0
    _readme_deploy_snippets_classify_a_digit(cli, run)
    # weights changed after export: --verify fails with exit 1 and names the format
    model = keras.saving.load_model(out / "model.keras")
    model.layers[-1].set_weights([w * 1.5 for w in model.layers[-1].get_weights()])
    model.save(out / "model.keras")
    r = cli("export", "--verify", out)
    assert r.code == 1 and "keras disagrees with cnnrun" in r.stderr
    # nothing is overwritten
    r = cli("export", run, "--format", "onnx")
    assert r.code == 2 and "does not overwrite" in r.stderr
    _tampered_artifacts_are_refused_not_run(cli, out)


def _tampered_artifacts_are_refused_not_run(cli, out: Path) -> None:
    """`--verify` runs nothing that cnnrun's own exports do not hold, names what it refuses
    and still checks the rest."""
    import shutil

    import onnx
    import tensorflow as tf

    written = out.parent / "written-by-the-artifact.txt"

    class Serve(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(written), "ran")
            return tf.zeros([tf.shape(x)[0], 10])

    shutil.rmtree(out / "savedmodel")
    tf.saved_model.save(Serve(), str(out / "savedmodel"))
    model = onnx.load(str(out / "model.onnx"))
    weights = model.graph.initializer[0]
    onnx.external_data_helper.set_external_data(weights, location="../../outside.bin")
    weights.ClearField("raw_data")
    weights.data_location = onnx.TensorProto.EXTERNAL
    onnx.save(model, str(out / "model.onnx"))
    lam = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Lambda(lambda t: t), keras.layers.Flatten()]
    )
    lam.save(out / "model.keras")
    meta = json.loads((out / "export.json").read_text())
    (out / "export.json").write_text(json.dumps({**meta, "formats": [*meta["formats"], "tar"]}))
    r = cli("export", "--verify", out)
    assert r.code == 1 and not written.exists(), r.stderr
    assert "savedmodel refused, not run: its function" in r.stderr and "WriteFile" in r.stderr
    assert "onnx refused, not run:" in r.stderr and "outside the folder" in r.stderr
    assert "tar refused, not run: export.json: formats: unknown format 'tar'" in r.stderr
    assert "keras refused, not run: layer 1 is a Lambda layer" in r.stderr, r.stderr
    assert "litert" not in r.stderr  # the untouched artifact still checked, and agrees
    (out / "export.json").write_text(json.dumps({**meta, "config": {"model": 1}}))
    r = cli("export", "--verify", out)
    assert r.code == 2 and "export.json" in r.stderr and "config." in r.stderr, r.stderr


def _readme_deploy_snippets_classify_a_digit(cli, run: Path) -> None:
    """The README's Deploy snippets, run as written from the run folder on one digit image,
    agree with `cnnrun predict`."""
    from PIL import Image

    from cnnrun.config.schema import DataConfig
    from cnnrun.data.sources import load_dataset

    ds, _ = load_dataset(DataConfig(source="digits"), Path("."))
    i = int(np.flatnonzero(ds.y == 3)[0])
    Image.fromarray((ds.x[i, ..., 0] * ds.scale * 255).astype(np.uint8)).save(run / "digit.png")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploy") : readme.index("## Commands")]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    r = subprocess.run([sys.executable, "-c", code], cwd=run, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    predicted = cli("predict", "--run", run, run / "digit.png").stdout.splitlines()[1].split(",")[1]
    assert r.stdout.split() == [predicted] * 4


def test_quantized_litert_is_checked_against_accuracy(cli, digits_run, tmp_path):
    r = cli(
        "export",
        digits_run.path,
        "--format",
        "litert",
        "--quantize",
        "int8",
        "--json",
        "-o",
        tmp_path / "q",
    )
    assert r.code == 0, r.stderr
    (art,) = json.loads(r.stdout)["artifacts"]
    assert art["quantize"] == "int8" and art["accuracy"] >= art["reference_accuracy"] - 0.01


def test_an_export_that_fails_midway_keeps_only_whole_artifacts(digits_run_copy, monkeypatch):
    from cnnrun.engine import export
    from cnnrun.errors import UserError

    real = export.write_artifact

    def disk_full_at_onnx(source, fmt, out, quantize=None):
        path = real(source, fmt, out, quantize) if fmt != "onnx" else out / "model.onnx"
        if fmt == "onnx":
            path.write_bytes(b"half an onnx file")
            raise OSError(28, "No space left on device")
        return path

    monkeypatch.setattr(export, "write_artifact", disk_full_at_onnx)
    out = digits_run_copy / "export"
    source = export.load_source(digits_run_copy)
    with pytest.raises(OSError):
        export.export_all(source, ["keras", "savedmodel", "onnx", "litert"], out)
    assert sorted(p.name for p in out.iterdir()) == [
        "export.json",
        "model.keras",
        "model.keras.json",
        "reference.npz",
        "savedmodel",
        "savedmodel.json",
    ]
    assert json.loads((out / "export.json").read_text())["formats"] == ["keras", "savedmodel"]
    # int8 calibrates on training images: without the data it is refused before any write
    source = export.Source(**{**vars(source), "calibration": None})
    elsewhere = digits_run_copy / "int8"
    with pytest.raises(UserError, match="calibrates on training images"):
        export.export_all(source, ["litert"], elsewhere, quantize="int8")
    assert not elsewhere.exists()
