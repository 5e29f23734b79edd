"""`cnnrun.engine.validation`: each epoch's validation in one pass that keeps the outputs.
Without a test split, a run's answers (errors, calibration) are the best epoch's kept
validation outputs: what the best weights file answers, not the last epoch's weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support import only_run
from tests.support.photos import photo_config, photo_folder

pytestmark = pytest.mark.slow


def _answers_of(weights: Path, root: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """The validation labels, what `weights` answers on them, and Keras's `evaluate` loss."""
    from cnnrun.config.schema import Config
    from cnnrun.data.sources import load_dataset
    from cnnrun.data.splits import split_dataset
    from cnnrun.engine.decode import decoded_splits
    from cnnrun.engine.pipeline import one_pass
    from cnnrun.engine.predict import load_model

    model, meta = load_model(weights, compile=True)
    cfg = Config.model_validate(meta["config"])
    ds, data = load_dataset(cfg.data, root)
    s = decoded_splits(split_dataset(ds, data, cfg.seed))
    val = one_pass(cfg, s, s.x_val, s.y_val)
    loss = float(model.evaluate(val, verbose=0, return_dict=True)["loss"])
    return s.y_val, model.predict(val.map(lambda x, _: x), verbose=0), loss


def test_answers_without_a_test_split_are_the_best_epochs(cli, tmp_path: Path):
    from cnnrun.analysis.scores import worst_errors

    photo_folder(tmp_path / "photos", per_class=10)
    # mode max makes the worst validation loss the "best" epoch: the first, not the last
    extra = "checkpoint: {monitor: val_loss, mode: max}\ndeterministic: true\n"
    data = "source: images, path: photos, image_size: 16, channels: 3"
    cfg = photo_config(tmp_path / "p.yaml", data, extra)
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_epoch"] == 1 and summary["epochs_run"] == 2
    assert summary["errors"]["set"] == "validation set"

    y, probs, loss = _answers_of(run / "best.weights.h5", tmp_path)
    assert abs(loss - summary["best_value"]) < 1e-5  # the epoch's own val_loss, from one pass
    expected = worst_errors(y, probs)
    got = summary["errors"]["worst"]
    assert [(e["index"], e["predicted"]) for e in got] == [
        (e["index"], e["predicted"]) for e in expected
    ]
    assert np.allclose([e["probability"] for e in got], [e["probability"] for e in expected])
    assert summary["errors"]["wrong"] == int((probs.argmax(1) != y).sum())
