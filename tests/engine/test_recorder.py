"""`cnnrun.engine.recorder`, what an epoch leaves on disk: the best file holds the best epoch
(not the last) as Keras writes it without the optimizer; a signal stops at the batch's end
with exit 130 and whole files; a full disk fails plainly, leaving a true summary, a loadable
best file and no temporary file."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support import only_run
from tests.support.training import det_config, metrics, start_train, weights


def _evaluate_best_on_validation(run: Path) -> float:
    """Rebuild from the weights file's own metadata and score the recorded validation split."""
    from cnnrun.config.schema import Config
    from cnnrun.data.sources import load_dataset
    from cnnrun.data.splits import split_dataset
    from cnnrun.engine.pipeline import pipeline
    from cnnrun.engine.predict import load_model

    model, meta = load_model(run / "best.weights.h5", compile=True)
    cfg = Config.model_validate(meta["config"])
    ds, _ = load_dataset(cfg.data, run)
    s = split_dataset(ds, cfg.data, cfg.seed)
    assert meta["preprocessing"]["scale"] == s.scale
    val = pipeline(
        s.x_val,
        s.y_val,
        s.scale,
        cfg.train.batch_size,
        loss=cfg.train.loss,
        num_classes=len(s.class_names),
    )
    return float(model.evaluate(val, verbose=0, return_dict=True)["loss"])


@pytest.mark.slow
def test_best_file_holds_the_best_epoch_not_the_last(cli, tiny_config, digits_run, tmp_path):
    # Monitoring val_loss with mode max makes the *worst* epoch "best": the file must hold that
    # epoch, which is not the last, and give back its recorded val_loss.
    runs = tmp_path / "runs"
    cfg = tiny_config(epochs=3, extra="checkpoint: {monitor: val_loss, mode: max}\n")
    assert cli("train", cfg, "--runs-dir", runs).code == 0
    run = only_run(runs)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_epoch"] != 3
    assert abs(_evaluate_best_on_validation(run) - summary["best_value"]) < 1e-5

    run = digits_run.path  # the same config, 3 epochs, monitoring as it does by default
    summary = json.loads((run / "summary.json").read_text())
    assert abs(_evaluate_best_on_validation(run) - summary["best_value"]) < 1e-5


@pytest.mark.slow
def test_best_file_is_what_keras_writes_without_the_optimizer(digits_run, tmp_path: Path):
    import h5py
    import keras

    from cnnrun.engine.model import build_model
    from cnnrun.engine.predict import config_from_metadata
    from cnnrun.runs.weights import read_metadata

    run = digits_run.path
    best = run / "best.weights.h5"
    model = build_model(config_from_metadata(best, read_metadata(best)))
    model.optimizer.build(model.trainable_variables)
    keras.saving.save_weights(model, tmp_path / "k.weights.h5", objects_to_skip=[model.optimizer])

    def datasets(path: Path) -> dict[str, tuple]:
        found: dict[str, tuple] = {}
        with h5py.File(path) as f:
            f.visititems(
                lambda name, obj: (
                    found.update({name: obj.shape}) if isinstance(obj, h5py.Dataset) else None
                )
            )
        return found

    assert datasets(best) == datasets(tmp_path / "k.weights.h5")
    with h5py.File(run / "last.weights.h5") as f:
        assert "optimizer" in f  # the last file keeps the optimizer's state, for --resume


@pytest.mark.slow
@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["SIGINT", "SIGTERM", "SIGINT-twice"],
)
def test_signal_stops_cleanly_with_exit_130(signals, tmp_path: Path):
    proc = start_train(det_config(tmp_path, epochs=200), tmp_path / "runs")
    for line in proc.stdout:  # plain mode: one line per epoch
        if line.startswith("epoch 2/"):
            break
    for sig in signals:  # a second Ctrl-C stops at once instead of at the batch end
        proc.send_signal(sig)
        time.sleep(0.01)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cnnrun train --resume" in err
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_run"] >= 2
    assert (run / "curves" / "loss.png").is_file()
    for name in ("best.weights.h5", "last.weights.h5"):
        from cnnrun.engine.predict import load_model

        load_model(run / name) if name.startswith("best") else weights(run / name)
    assert len(metrics(run)) == summary["epochs_run"]


@pytest.mark.slow
def test_full_disk_fails_plainly_and_keeps_the_best_file(cli, tmp_path: Path, monkeypatch):
    import errno

    from cnnrun import atomic
    from cnnrun.runs import folder as runs_mod

    calls = {"n": 0}
    original = atomic.write_text

    def full(path, text):
        if path.name == runs_mod.HISTORY:  # the second epoch's history write fails
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, text)

    monkeypatch.setattr(atomic, "write_text", full)
    r = cli("train", det_config(tmp_path), "--runs-dir", tmp_path / "runs")
    assert r.code == 1
    assert "No space left on device" in r.stderr and "Traceback" not in r.stderr
    run = only_run(tmp_path / "runs")
    from cnnrun.engine.predict import load_model

    load_model(run / "best.weights.h5")
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"


def test_a_full_disk_during_a_checkpoint_leaves_a_true_summary_and_no_temp_file(
    cli, tiny_config, tmp_path: Path, monkeypatch
):
    import errno

    from cnnrun.engine.predict import load_model
    from cnnrun.runs import weights as weights_mod

    calls = {"n": 0}
    original = weights_mod.add_metadata

    def full(path, metadata):  # the second epoch's weights file hits a full disk
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 0's best file, epoch 1's last file, then this one
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, metadata)

    monkeypatch.setattr(weights_mod, "add_metadata", full)
    r = cli("train", tiny_config(epochs=3), "--runs-dir", tmp_path / "runs")
    assert r.code == 1 and "No space left on device" in r.stderr and "Traceback" not in r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["reason"]
    assert not [p.name for p in run.iterdir() if ".tmp-cnnrun-" in p.name]
    load_model(run / "best.weights.h5")
