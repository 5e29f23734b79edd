"""`cnnrun.runs.weights`, a weights file and its metadata: a file written by cnnrun 0.1 still
predicts and its run resumes; a file that is not HDF5, holds no Keras weights, is cut short
or missing is refused; metadata that lies is refused naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from tests.support import V01_RUN, refused
from tests.support.predict import assert_refused_writing_nothing


@pytest.mark.slow
def test_an_old_weights_file_predicts_and_its_run_resumes(old_run: Path, cli):
    from cnnrun.engine.predict import load_model  # the README's Python snippet

    model, meta = load_model(old_run / "best.weights.h5")
    assert meta["epoch"] == 2 and model.output_shape == (None, 10)
    r = cli("predict", "--run", old_run, "digits:test", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    summary = json.loads((old_run / "summary.json").read_text())
    assert doc["scores"]["accuracy"] == pytest.approx(summary["test"]["test_accuracy"])
    r = cli("train", "--resume", old_run, "--epochs", "3", "--quiet")
    assert r.code == 0, r.stderr
    summary = json.loads((old_run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 3
    # it trained on batchnorm's moving averages, and its resumed epoch keeps them
    assert summary["batchnorm"]["stats"] == "moving"
    assert len((old_run / "history.csv").read_text().splitlines()) == 4


@pytest.mark.slow
@pytest.mark.parametrize("case", ["not_hdf5", "no_weights", "truncated", "missing_weights"])
def test_bad_weights_files_exit_2_and_write_nothing(case, digits_run, cli, tmp_path):
    assert_refused_writing_nothing(cli, digits_run.path, tmp_path, case)


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("cnnrun_config", "{not json", "is not JSON"),
        ("cnnrun_class_names", "5", "expected a list of class names"),
        ("cnnrun_class_names", "[1, 2]", "expected a list of class names"),
        ("cnnrun_input_shape", "[8, -8, 1]", "[height, width, channels]"),
        ("cnnrun_preprocessing", '{"scale": -1}', "positive finite 'scale'"),
        ("cnnrun_epoch", -3, "an epoch number"),
    ],
)
def test_lying_metadata_is_refused_naming_the_file(key, value, words, cli, tmp_path):
    lie = tmp_path / "lie.weights.h5"
    lie.write_bytes((V01_RUN / "best.weights.h5").read_bytes())
    with h5py.File(lie, "a") as f:
        f.attrs[key] = value
    refused(cli("predict", "--weights", lie, "digits:test"), str(lie), key, words)
