"""The Python API (`cnnrun.train`, `predict`, `load_model`, `validate`, ...): light to import,
typed and documented, the CLI's own use cases with the CLI's own errors, and usable from a
thread other than the main one."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import cnnrun
from cnnrun.runs.events import NullReporter

ROOT = Path(__file__).resolve().parents[2]

TINY = """\
name: tiny
seed: 7
data: {source: digits}
model:
  layers:
    - conv2d: {filters: 4, kernel_size: 3, padding: same}
    - maxpool2d: {pool_size: 2}
    - flatten
    - dense: {units: 10, activation: softmax}
train: {epochs: 1, batch_size: 64, precision: float32}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def trained(tiny: Path, tmp_path_factory) -> cnnrun.RunSummary:
    """One tiny run, trained through the API, that the tests below only read."""
    runs = tmp_path_factory.mktemp("runs")
    return cnnrun.train(tiny, runs_dir=runs, reporter=NullReporter())


def test_import_cnnrun_is_light_and_lists_its_api():
    code = (
        "import sys, cnnrun\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "assert 'cnnrun.app' not in sys.modules and 'pydantic' not in sys.modules\n"
        "print(' '.join(cnnrun.__all__))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    names = set(r.stdout.split())
    assert {"train", "predict", "load_model", "validate", "sweep", "search"} <= names
    assert set(dir(cnnrun)) >= names


@pytest.mark.parametrize("name", ["train", "predict", "load_model", "validate", "sweep", "search"])
def test_each_function_is_typed_and_documented(name: str):
    fn = getattr(cnnrun, name)
    signature = inspect.signature(fn)
    assert signature.return_annotation is not inspect.Signature.empty, name
    assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values())
    assert "Raises:" in (fn.__doc__ or ""), name


def test_a_missing_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        cnnrun.trian  # noqa: B018


def test_errors_are_the_clis_own(tmp_path: Path, cli):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("filters: 4", "filters: -4"))
    with pytest.raises(cnnrun.UserError) as caught:
        cnnrun.validate(bad)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("model.layers[0].conv2d.filters", 6)
    r = cli("validate", bad)
    assert r.code == 2 and problem.format() in r.stderr
    with pytest.raises(cnnrun.UserError, match="runs-dir"):
        cnnrun.train(bad, runs_dir=bad)  # a file as the runs folder: refused first, as in the CLI
    assert not list(tmp_path.glob("*_tiny"))


@pytest.mark.slow
def test_train_returns_the_summary_its_run_folder_holds(trained: cnnrun.RunSummary):
    from cnnrun.runs.summary import read_summary

    assert trained.status == "completed" and trained.epochs_run == 1
    assert read_summary(Path(trained.run_dir)).as_dict() == trained.as_dict()


@pytest.mark.slow
def test_train_runs_in_a_thread_other_than_the_main_one(tiny: Path, tmp_path: Path):
    done: dict = {}

    def work() -> None:
        try:
            done["summary"] = cnnrun.train(tiny, runs_dir=tmp_path, reporter=NullReporter())
        except BaseException as e:  # reported below, in the main thread
            done["error"] = e

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in done, done.get("error")
    assert done["summary"].status == "completed"
    assert (Path(done["summary"].run_dir) / "best.weights.h5").is_file()


@pytest.mark.slow
def test_predict_takes_paths_splits_and_arrays_and_load_model_takes_raw_pixels(
    trained: cnnrun.RunSummary,
):
    from cnnrun.config.schema import DataConfig
    from cnnrun.data.sources import load_dataset

    ds, _ = load_dataset(DataConfig(source="digits"), ROOT)
    split = cnnrun.predict(trained.run_dir, "digits:test")
    raw = cnnrun.predict(trained.run_dir, ds.x_test)  # uint8 0..16: the run's scale applies
    scaled = cnnrun.predict(trained.run_dir, (ds.x_test * ds.scale).astype(np.float32))
    assert split.labels is not None and raw.labels is None
    assert np.allclose(split.probabilities, raw.probabilities, atol=1e-6)
    assert np.allclose(raw.probabilities, scaled.probabilities, atol=1e-6)
    assert split.scores["accuracy"] == pytest.approx(trained.test["test_accuracy"], abs=1e-6)
    model, meta = cnnrun.load_model(trained.run_dir)
    assert model.layers[1].name == "pixel_scale" and meta["class_names"] == split.class_names
    out = model.predict(ds.x_test, verbose=0)
    assert np.allclose(out, split.probabilities, atol=1e-6)
    with pytest.raises(cnnrun.UserError, match=r"the model expects \(N, 8, 8, 1\)"):
        cnnrun.predict(trained.run_dir, np.zeros((2, 9, 9), np.uint8))


@pytest.mark.slow
def test_a_missed_gate_raises_with_the_result_at_hand(trained: cnnrun.RunSummary):
    with pytest.raises(cnnrun.GateFailed) as caught:
        cnnrun.predict(trained.run_dir, "digits:test", fail_under=["accuracy=1.01"])
    assert caught.value.missed[0].startswith("accuracy ")
    assert caught.value.result.scores["accuracy"] < 1.01


@pytest.mark.slow
def test_a_diverged_run_raises_and_keeps_its_folder(tiny: Path, tmp_path: Path):
    lr = "train.optimizer={name: sgd, learning_rate: 1e38}"
    with pytest.raises(cnnrun.Diverged, match="NaN") as caught:
        cnnrun.train(tiny, overrides=[lr], runs_dir=tmp_path, reporter=NullReporter())
    assert (caught.value.run_dir / "best.weights.h5").is_file()
    assert issubclass(cnnrun.Interrupted, KeyboardInterrupt)
