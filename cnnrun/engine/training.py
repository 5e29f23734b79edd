"""Training a plan into a run folder: fit, best/last checkpoints, history, summary, curves.

`prepare` does everything that can fail because of the user's config or data (loading,
splitting, building the model) before `run` creates the run folder, so a bad input never
leaves a half-made folder behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun import __version__
from cnnrun.config.plan import Plan
from cnnrun.data.splits import Splits
from cnnrun.engine import distribute
from cnnrun.engine.model import build_model, from_logits, make_loss
from cnnrun.engine.pipeline import load_splits, pipeline, steps
from cnnrun.engine.recorder import Recorder, Reporter, Saver, StopRequested, stop_on_signals
from cnnrun.errors import Problem, UserError
from cnnrun.runs import folder as runs
from cnnrun.runs import weights as checkpoint
from cnnrun.runs.curves import draw_confusion, draw_run
from cnnrun.runs.diagnose import diagnose
from cnnrun.runs.scores import classification_scores


class Diverged(Exception):
    """The loss became NaN or infinite; the run is marked failed."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during training; the run is marked interrupted."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; the run folder is {run_dir}")
        self.run_dir = run_dir


@dataclass
class Prepared:
    """A plan with its data loaded and its model built: ready to run."""

    plan: Plan
    splits: Splits
    model: keras.Model
    strategy: Any = None  # a tf.distribute strategy, or None for one device


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "cnnrun": __version__,
    }


def seed_everything(seed: int, deterministic: bool) -> None:
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def prepare(plan: Plan) -> Prepared:
    """Load and split the data and build the model; raises `UserError` on bad data."""
    cfg = plan.config
    strategy = distribute.make_strategy(cfg.distribute)  # before any other TensorFlow work
    seed_everything(cfg.seed, cfg.deterministic)
    splits = load_splits(cfg, plan.loaded.base_dir, plan.dataset)
    if strategy is None:
        model = build_model(cfg)
    else:
        with strategy.scope():
            model = build_model(cfg)
    return Prepared(plan, splits, model, strategy)


def config_hash(resolved: dict) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]


def _callbacks(prep: Prepared, run_dir: Path) -> list[keras.callbacks.Callback]:
    cfg = prep.plan.config
    monitor, mode = cfg.checkpoint.monitor, cfg.checkpoint.resolved_mode
    out: list[keras.callbacks.Callback] = []
    if cfg.early_stopping:
        out.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=mode,
                patience=cfg.early_stopping.patience,
                min_delta=cfg.early_stopping.min_delta,
            )
        )
    if cfg.train.lr_schedule:
        s = cfg.train.lr_schedule
        out.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=s.factor, patience=s.patience, min_lr=s.min_lr
            )
        )
    if cfg.logging.tensorboard:
        out.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    return out


def new_summary(prep: Prepared, run_dir: Path, run_name: str) -> dict[str, Any]:
    """The summary a run starts with (status `running`)."""
    cfg, splits = prep.plan.config, prep.splits
    return {
        "name": run_name,
        "run_dir": str(run_dir),
        "status": "running",
        "reason": None,
        "started": datetime.now().isoformat(timespec="seconds"),
        "finished": None,
        "epochs_planned": cfg.train.epochs,
        "epochs_run": 0,
        "monitor": cfg.checkpoint.monitor,
        "mode": cfg.checkpoint.resolved_mode,
        "best_epoch": None,
        "best_value": None,
        "best_metrics": {},
        "test": {},
        "diagnosis": None,
        "num_classes": len(splits.class_names),
        "params": {
            "total": prep.plan.table.total_params,
            "trainable": prep.plan.table.trainable_params,
        },
        "seed": cfg.seed,
        "deterministic": cfg.deterministic,
        "distribute": {
            "strategy": cfg.distribute,
            "replicas": prep.strategy.num_replicas_in_sync if prep.strategy else 1,
        },
        "data": {
            "source": cfg.data.source,
            "origin": splits.origin,
            "fingerprint": splits.fingerprint,
            "counts": splits.counts,
            "class_names": splits.class_names,
            "scale": splits.scale,
        },
        "config_hash": config_hash(cfg.resolved()),
        "versions": versions(),
    }


def run(prep: Prepared, runs_dir: Path, reporter: Reporter, name: str | None = None) -> dict:
    """Train a prepared experiment into a new run folder and return its summary.

    A non-chief worker of multi-worker training saves as the chief does (Keras's multi-worker
    checkpointing expects it) but into a temporary folder that goes away; its summary has
    `run_dir: None` and `worker`. Only the chief's run folder stays.

    Raises:
        Diverged: the loss became NaN or infinite (status `failed`, best weights kept).
        Interrupted: Ctrl-C or SIGTERM (status `interrupted`, best and last weights valid).
    """
    if distribute.is_chief(prep.strategy):
        return _run_into(prep, runs_dir, reporter, name)
    scratch = Path(tempfile.mkdtemp(prefix="cnnrun-worker-"))
    try:
        summary = _run_into(prep, scratch, reporter, name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {**summary, "run_dir": None, "worker": distribute.worker_label(prep.strategy)}


def _run_into(prep: Prepared, runs_dir: Path, reporter: Reporter, name: str | None) -> dict:
    cfg = prep.plan.config
    run_name = name or cfg.name or Path(prep.plan.loaded.file).stem
    run_dir = runs.create_run_dir(runs_dir, run_name)
    runs.write_config(run_dir, cfg.resolved())
    summary = new_summary(prep, run_dir, run_name)
    runs.write_summary(run_dir, summary)
    return _fit(prep, run_dir, summary, [], reporter)


def resume(prep: Prepared, run_dir: Path, reporter: Reporter) -> dict:
    """Continue a run in its own folder from the epoch after the one `last.weights.h5` holds.

    Model and optimizer state come from `last.weights.h5`, the best value so far from
    `best.weights.h5` (so a worse epoch never replaces the best file), the history is
    appended.

    Raises:
        UserError: the history has fewer epochs than the last weights (not a cnnrun order).
    """
    cfg, model = prep.plan.config, prep.model
    for stale in run_dir.glob(".*.tmp*"):  # half-written files of a killed process
        stale.unlink()
    summary = runs.read_summary(run_dir)
    history = runs.read_history(run_dir) if (run_dir / runs.HISTORY).exists() else {}
    rows = [{k: history[k][i] for k in history} for i in range(len(history.get("epoch", [])))]
    for row in rows:
        row["epoch"] = int(row["epoch"])
    # The weights files are written behind the history by up to one epoch, so a killed run
    # goes on from the epoch its last file holds; epochs replay exactly (the data order and
    # the dropout randomness are functions of the epoch), so nothing differs but time.
    last = run_dir / runs.LAST
    done = int(checkpoint.read_metadata(last).get("epoch", 0)) if last.exists() else 0
    if len(rows) < done:
        raise UserError(
            Problem(
                f"history.csv has {len(rows)} epochs but last.weights.h5 holds epoch {done}; "
                "the run cannot be continued exactly",
                file=str(run_dir),
                hint="train a new run",
            )
        )
    rows = rows[:done]
    if rows:
        model.optimizer.build(model.trainable_variables)
        keras.saving.load_weights(model, last)
    best_meta = (
        checkpoint.read_metadata(run_dir / runs.BEST) if (run_dir / runs.BEST).exists() else {}
    )
    best = float(best_meta.get("value", math.nan))
    if best_meta.get("epoch") and best_meta["epoch"] != summary.get("best_epoch"):
        row = rows[best_meta["epoch"] - 1] if best_meta["epoch"] <= len(rows) else {}
        summary.update(
            best_epoch=best_meta["epoch"],
            best_value=best,
            best_metrics={k: v for k, v in row.items() if k != "seconds"},
        )
    summary.update(
        status="running",
        reason=None,
        epochs_planned=cfg.train.epochs,
        epochs_run=len(rows),
        finished=None,
    )
    runs.write_config(run_dir, cfg.resolved())
    runs.write_summary(run_dir, summary)
    return _fit(prep, run_dir, summary, rows, reporter, best=best)


def _fit(
    prep: Prepared,
    run_dir: Path,
    summary: dict,
    rows: list[dict],
    reporter: Reporter,
    best: float = math.nan,
) -> dict:
    cfg, splits, model = prep.plan.config, prep.splits, prep.model
    monitor, mode = cfg.checkpoint.monitor, cfg.checkpoint.resolved_mode
    bs = cfg.train.batch_size
    train_steps, val_steps = steps(len(splits.y_train), bs), steps(len(splits.y_val), bs)
    metadata = {
        "config": cfg.resolved(),
        "class_names": splits.class_names,
        "input_shape": list(cfg.model.input_shape or ()),
        "preprocessing": {"scale": splits.scale},
        "cnnrun_version": __version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }
    columns = runs.history_columns(cfg.train.metrics)
    recorder = Recorder(
        run_dir, columns, summary, metadata, reporter, monitor, mode, cfg.seed, rows=rows, best=best
    )
    recorder.saver = _make_saver(prep)
    first = len(rows)
    labels = {"loss": cfg.train.loss, "num_classes": len(splits.class_names)}
    train_ds = pipeline(
        splits.x_train,
        splits.y_train,
        splits.scale,
        bs,
        **labels,
        shuffle_seed=cfg.seed,
        repeat=True,
        first_epoch=first,
    )
    # One finite pass per epoch, not a repeat()ed stream: Keras's evaluate drops the previous
    # epoch's validation iterator, and dropping a repeat()ed one that sat idle through a
    # training epoch waits about a second for tf.data's autotuning thread to wake up (3 of
    # 10 mnist5k epochs here). An exhausted iterator has no thread left to wait for.
    val_ds = _once(prep, splits.x_val, splits.y_val)

    reporter.start(cfg.train.epochs, train_steps)
    t0 = time.perf_counter()
    callbacks = [recorder, *_callbacks(prep, run_dir)]
    with stop_on_signals(recorder.stop, reporter):
        try:
            if isinstance(prep.strategy, tf.distribute.MultiWorkerMirroredStrategy):
                _fit_multi_worker(prep, train_ds, train_steps, first, callbacks)
            else:
                model.fit(
                    train_ds,
                    epochs=cfg.train.epochs,
                    initial_epoch=first,
                    steps_per_epoch=train_steps,
                    validation_data=val_ds,
                    validation_steps=val_steps,
                    shuffle=False,
                    verbose=0,
                    callbacks=callbacks,
                )
        except (KeyboardInterrupt, StopRequested):
            recorder.stop["cleanup"] = True
            recorder.finish_writes(raise_errors=False)
            _finish(run_dir, summary, recorder, "interrupted", "interrupted by a signal", t0)
            reporter.end()
            raise Interrupted(run_dir) from None
        except Exception as e:
            recorder.stop["cleanup"] = True
            recorder.finish_writes(raise_errors=False)
            _finish(run_dir, summary, recorder, "failed", f"{type(e).__name__}: {e}", t0)
            reporter.end()
            raise
        recorder.stop["cleanup"] = True
        reporter.end()
        if recorder.nan_at:
            epoch, batch = recorder.nan_at
            reason = f"loss became NaN or infinite at epoch {epoch}, batch {batch}"
            _finish(run_dir, summary, recorder, "failed", reason, t0)
            raise Diverged(f"{reason}; the best weights so far are in {run_dir / runs.BEST}")
        _score_test(prep, run_dir, summary)
        _finish(run_dir, summary, recorder, "completed", None, t0)
    return summary


def _once(prep: Prepared, x: Any, y: np.ndarray) -> tf.data.Dataset:
    """One ordered pass over `x, y` in training batches: for validation or test scores."""
    cfg, splits = prep.plan.config, prep.splits
    n = len(splits.class_names)
    return pipeline(x, y, splits.scale, cfg.train.batch_size, loss=cfg.train.loss, num_classes=n)


def _make_saver(prep: Prepared) -> Saver:
    """The background saver, with a twin of the model built from the same config."""
    model = prep.model
    if not model.optimizer.built:  # fit would build it at the first step; its slots are saved
        if prep.strategy is None:
            model.optimizer.build(model.trainable_variables)
        else:
            with prep.strategy.scope():
                model.optimizer.build(model.trainable_variables)
    # The twin only ever holds a copy on its way to disk: host memory, not the GPU's.
    with tf.device("/CPU:0"):
        twin = build_model(prep.plan.config)
    return Saver(model, twin)


class WorkerLost(RuntimeError):
    """A collective with the other workers failed: one of them stopped or is unreachable."""


def _fit_multi_worker(
    prep: Prepared,
    train_ds: tf.data.Dataset,
    train_steps: int,
    first: int,
    callbacks: list[keras.callbacks.Callback],
) -> None:
    cfg, splits = prep.plan.config, prep.splits
    val_ds = _once(prep, splits.x_val, splits.y_val)
    try:
        distribute.fit_custom(
            prep.strategy,
            prep.model,
            make_loss(cfg),
            distribute.correct_fn(cfg.train.loss, from_logits(cfg)),
            train_ds,
            val_ds,
            train_steps,
            first,
            cfg.train.epochs,
            callbacks,
        )
    except tf.errors.OpError as e:
        raise WorkerLost(
            f"lost contact with another worker ({type(e).__name__} in a collective); every "
            "worker must be running and able to reach the others"
        ) from None


def _score_test(prep: Prepared, run_dir: Path, summary: dict) -> None:
    """Score the test split once with the best weights: loss, metrics, confusion matrix."""
    cfg, splits, model = prep.plan.config, prep.splits, prep.model
    if splits.y_test is None:
        return
    keras.saving.load_weights(model, run_dir / runs.BEST, objects_to_skip=[model.optimizer])
    test_ds = _once(prep, splits.x_test, splits.y_test)
    if isinstance(prep.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras's evaluate/predict fail under this strategy as fit does; every worker holds
        # the whole model, so score locally.
        parts = [(model(xb, training=False), yb) for xb, yb in test_ds]
        out = np.concatenate([keras.ops.convert_to_numpy(p) for p, _ in parts])
        loss_fn = make_loss(cfg)
        losses = np.concatenate([keras.ops.convert_to_numpy(loss_fn.call(y, p)) for p, y in parts])
        scores = {"loss": float(losses.mean())}
    else:
        scores = model.evaluate(test_ds, verbose=0, return_dict=True)
        out = model.predict(test_ds.map(lambda xb, _: xb), verbose=0)
    summary["test"] = {f"test_{k}": float(v) for k, v in scores.items()}
    if out.shape[-1] == 1:  # one sigmoid unit (or logit)
        predicted = (out[:, 0] > (0.0 if from_logits(cfg) else 0.5)).astype(int)
    else:
        predicted = out.argmax(axis=1)
    table = classification_scores(splits.y_test, predicted, splits.class_names)
    summary["test_scores"] = table
    if "accuracy" in cfg.train.metrics and "test_accuracy" not in summary["test"]:
        summary["test"]["test_accuracy"] = float(table["accuracy"])
    draw_confusion(
        table, run_dir / runs.CURVES / "confusion_matrix.png", title=f"{summary['name']}, test set"
    )


def _finish(
    run_dir: Path, summary: dict, recorder: Recorder, status: str, reason: str | None, t0: float
) -> None:
    """Final summary, diagnosis and curves; also on failure or interruption."""
    rows = recorder.rows
    fit_s = time.perf_counter() - t0
    history = {k: [float(r.get(k, math.nan)) for r in rows] for k in recorder.columns}
    diag = diagnose(history, summary["monitor"], summary["mode"], summary["num_classes"])
    epoch_s = [r["seconds"] for r in rows]
    n_train = summary["data"]["counts"]["train"]
    summary.update(
        status=status,
        reason=reason,
        finished=datetime.now().isoformat(timespec="seconds"),
        epochs_run=len(rows),
        diagnosis=diag.as_dict(),
        timings={
            "first_batch_done_unix": recorder.first_batch_unix,
            "fit_s": round(fit_s, 3),
            "mean_epoch_s": round(float(np.mean(epoch_s)), 4) if epoch_s else None,
            "median_epoch_s": round(float(np.median(epoch_s)), 4) if epoch_s else None,
            "train_samples_per_s": round(n_train / float(np.median(epoch_s)), 1)
            if epoch_s
            else None,
        },
    )
    runs.write_history(run_dir, recorder.columns, rows)  # also the epochs not yet written
    runs.write_summary(run_dir, summary)
    if rows:
        draw_run(run_dir)
