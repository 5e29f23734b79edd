"""Training a plan into a run folder: fit, best/last checkpoints, history, summary, curves.

`prepare` does everything that can fail because of the user's config or data (loading,
splitting, building the model) before `run` creates the run folder, so a bad input never
leaves a half-made folder behind.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from cnnrun import atomic
from cnnrun.data.preflight import recheck
from cnnrun.data.splits import Splits, class_weights
from cnnrun.engine import distribute, phases
from cnnrun.engine.augment import fit_loss, mixer
from cnnrun.engine.callbacks import keras_callbacks
from cnnrun.engine.evaluate import score_test
from cnnrun.engine.finish import finish
from cnnrun.engine.pipeline import pipeline, steps
from cnnrun.engine.precise_bn import moving_against_precise, precise_callbacks
from cnnrun.engine.prepare import Prepared
from cnnrun.engine.recorder import Recorder, StopRequested, stop_on_signals
from cnnrun.engine.summaries import new_summary
from cnnrun.engine.validation import Validation, validation
from cnnrun.errors import DataChanged, Diverged, Interrupted, Problem, UserError
from cnnrun.runs import folder as runs
from cnnrun.runs import locks, names, weights
from cnnrun.runs.events import Observer, Reporter
from cnnrun.runs.summary import RunSummary, read_summary, write_summary
from cnnrun.version import __version__


def run(
    prep: Prepared,
    runs_dir: Path,
    reporter: Reporter,
    name: str | None = None,
    observers: Sequence[Observer] = (),
) -> RunSummary:
    """Train a prepared experiment into a new run folder and return its summary.

    `observers` follow the run epoch by epoch (`cnnrun.runs.events.Observer`): one that
    asks to stop ends the run with status `pruned`, its files complete.

    A non-chief worker of multi-worker training saves as the chief does (Keras's multi-worker
    checkpointing expects it) but into a temporary folder that goes away; its summary has
    `run_dir: None` and `worker`. Only the chief's run folder stays.

    Raises:
        Diverged: the loss became NaN or infinite (status `failed`, best weights kept).
        Interrupted: Ctrl-C or SIGTERM (status `interrupted`, best and last weights valid).
    """
    if distribute.is_chief(prep.strategy):
        return _run_into(prep, runs_dir, reporter, name, observers)
    scratch = Path(tempfile.mkdtemp(prefix="cnnrun-worker-"))
    try:
        summary = _run_into(prep, scratch, reporter, name, ())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return summary.model_copy(
        update={"run_dir": None, "worker": distribute.worker_label(prep.strategy)}
    )


def _run_into(
    prep: Prepared,
    runs_dir: Path,
    reporter: Reporter,
    name: str | None,
    observers: Sequence[Observer],
) -> RunSummary:
    cfg = prep.plan.config
    run_name = name or cfg.name or Path(prep.plan.loaded.file).stem
    run_dir = runs.create_run_dir(runs_dir, run_name)
    with locks.run_lock(run_dir):
        runs.write_config(run_dir, cfg.resolved())
        summary = new_summary(prep.plan, prep.splits, prep.strategy, run_dir, run_name)
        summary.precision = prep.precision
        write_summary(run_dir, summary)
        return _fit(prep, run_dir, summary, [], reporter, observers)


def resume(
    prep: Prepared, run_dir: Path, reporter: Reporter, observers: Sequence[Observer] = ()
) -> RunSummary:
    """Continue a run in its own folder from the epoch after the one `last.weights.h5` holds.

    Model and optimizer state come from `last.weights.h5`, the best value so far from
    `best.weights.h5` (so a worse epoch never replaces the best file), the history is
    appended. A process killed between two of an epoch's writes leaves a history that may be
    one epoch ahead of the weights: that epoch is trained again, exactly as before (the data
    order and the dropout randomness are functions of the epoch).
    """
    cfg, model = prep.plan.config, prep.model
    for stale in run_dir.glob(atomic.TEMP_GLOB):  # half-written files of a killed process
        stale.unlink()
    summary = read_summary(run_dir)
    history = runs.read_history(run_dir) if (run_dir / names.HISTORY).exists() else {}
    rows = [{k: history[k][i] for k in history} for i in range(len(history.get("epoch", [])))]
    for row in rows:
        row["epoch"] = int(row["epoch"])
    last = run_dir / names.LAST
    done = int(weights.read_metadata(last).get("epoch", 0)) if last.exists() else 0
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
    span = phases.at(cfg, done)
    if span is not None:  # the phase's network and optimizer, as the weights were saved
        phases.enter(prep, span, steps(len(prep.splits.y_train), cfg.train.batch_size))
    if rows:
        # at a phase's first epoch the phase starts with a fresh optimizer
        fresh = [model.optimizer] if span is not None and span.start == done else []
        keras.saving.load_weights(model, last, objects_to_skip=fresh)
    best_meta = (
        weights.read_metadata(run_dir / names.BEST) if (run_dir / names.BEST).exists() else {}
    )
    best = float(best_meta.get("value", math.nan))
    epoch = best_meta.get("epoch")
    if epoch and epoch != summary.best_epoch:  # killed after the best file, before the summary
        row = rows[epoch - 1] if epoch <= len(rows) else {}
        summary.best_epoch, summary.best_value = epoch, best
        summary.best_metrics = {k: v for k, v in row.items() if k != "seconds"}
    summary.precision = prep.precision
    summary.status, summary.reason, summary.finished = "running", None, None
    summary.epochs_planned, summary.epochs_run = cfg.train.epochs, len(rows)
    summary.phases = phases.records(cfg) or None  # --epochs may reach further phases
    runs.write_config(run_dir, cfg.resolved())
    write_summary(run_dir, summary)
    return _fit(prep, run_dir, summary, rows, reporter, observers, best=best)


def _metadata(prep: Prepared) -> dict[str, Any]:
    cfg, splits = prep.plan.config, prep.splits
    return {
        "config": cfg.resolved(),
        "class_names": splits.class_names,
        "input_shape": list(cfg.model.input_shape or ()),
        "preprocessing": {"scale": splits.scale, **_decoding(splits)},
        "precision": (prep.precision or {}).get("policy", "float32"),
        "cnnrun_version": __version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }


def _changed_files(prep: Prepared, error: Exception) -> list[tuple[str, str]]:
    """After a failed read in the input pipeline: the image files now bad (see `recheck`)."""
    if not isinstance(error, tf.errors.OpError):
        return []
    s = prep.splits
    return recheck([x for x in (s.x_train, s.x_val, s.x_test) if x is not None])


def _reason(e: Exception) -> str:
    return str(e) if isinstance(e, DataChanged) else f"{type(e).__name__}: {e}"


def _decoding(splits: Splits) -> dict[str, Any]:
    ds = splits.dataset
    return {"decode": ds.decode} if ds is not None and ds.decode else {}


def _train_data(prep: Prepared, first_epoch: int, end: int) -> tuple[Any, int]:
    """The training stream of epochs `first_epoch` to `end` - 1, and its steps per epoch."""
    cfg, splits = prep.plan.config, prep.splits
    bs = cfg.train.batch_size
    train_ds = pipeline(
        splits.x_train,
        splits.y_train,
        splits.scale,
        bs,
        loss=fit_loss(cfg),
        num_classes=len(splits.class_names),
        weights=class_weights(cfg.train.class_weight, splits.class_names, splits.y_train),
        shuffle_seed=cfg.seed,
        epochs=end - first_epoch,
        first_epoch=first_epoch,
        mix=mixer(cfg),
    )
    return train_ds, steps(len(splits.y_train), bs)


def _train(
    prep: Prepared,
    recorder: Recorder,
    reporter: Reporter,
    callbacks: list,
    first: int,
    checker: Validation | None,
) -> None:
    """Train from epoch `first` to the end, phase after phase (`train.phases`)."""
    cfg = prep.plan.config
    spans = phases.spans(cfg)
    todo = [s for s in spans if s.end > first] or [None]
    for i, span in enumerate(todo):
        start = first if span is None else max(first, span.start)
        end = cfg.train.epochs if span is None else span.end
        train_ds, train_steps = _train_data(prep, start, end)
        if i == 0:
            reporter.start(cfg.train.epochs, train_steps)
        if span is not None and (start == span.start or i > 0):
            phases.enter(prep, span, train_steps)
        distribute.fit(prep, train_ds, train_steps, start, callbacks, end, checker)
        if prep.model.stop_training or recorder.nan_at or recorder.pruned_at is not None:
            return  # early stopping, a diverged loss or a pruned trial ends every phase


def _fit(
    prep: Prepared,
    run_dir: Path,
    summary: RunSummary,
    rows: list[dict],
    reporter: Reporter,
    observers: Sequence[Observer],
    best: float = math.nan,
) -> RunSummary:
    cfg = prep.plan.config
    monitor, mode = cfg.checkpoint.monitor, cfg.checkpoint.resolved_mode
    columns = runs.history_columns(cfg.train.metrics)
    recorder = Recorder(
        run_dir,
        columns,
        summary,
        _metadata(prep),
        reporter,
        monitor,
        mode,
        cfg.seed,
        rows,
        best,
        observers=list(observers),
    )
    t0 = time.perf_counter()
    # From the `running` summary on, a signal or an error must end in a summary that says
    # so: a worker stopped while its pipeline was being built left `running` behind.
    with stop_on_signals(recorder.stop, reporter):
        try:
            for observer in observers:
                observer.begin(summary)
            write_summary(run_dir, summary)
            callbacks = [
                *precise_callbacks(prep, summary),
                recorder,
                *keras_callbacks(cfg, run_dir),
            ]
            checker = validation(prep, summary, callbacks)
            _train(prep, recorder, reporter, callbacks, len(rows), checker)
        except (KeyboardInterrupt, StopRequested):
            finish(run_dir, summary, recorder, "interrupted", "interrupted by a signal", t0)
            reporter.end()
            raise Interrupted(run_dir) from None
        except Exception as e:
            changed = _changed_files(prep, e)
            failure = DataChanged(changed, run_dir) if changed else e
            finish(run_dir, summary, recorder, "failed", _reason(failure), t0)
            reporter.end()
            if changed:
                raise failure from None
            raise
        recorder.stop["cleanup"] = True
        reporter.end()
        if recorder.nan_at:
            epoch, batch = recorder.nan_at
            reason = f"loss became NaN or infinite at epoch {epoch}, batch {batch}"
            finish(run_dir, summary, recorder, "failed", reason, t0)
            best = run_dir / names.BEST
            raise Diverged(f"{reason}; the best weights so far are in {best}", run_dir)
        if recorder.pruned_at is not None:  # a search gave up on it: no test, no comparison
            reason = (
                f"pruned after epoch {recorder.pruned_at}: its values were worse than the others'"
            )
            finish(run_dir, summary, recorder, "pruned", reason, t0)
            return summary
        score_test(prep, run_dir, summary, checker and checker.best_outputs())
        both = (
            None
            if cfg.train.batchnorm_stats == "precise"
            else moving_against_precise(prep, run_dir / names.BEST)
        )
        if both is not None and summary.batchnorm is not None:
            summary.batchnorm.update(val_loss_moving=both[0], val_loss_precise=both[1])
        finish(run_dir, summary, recorder, "completed", None, t0)
    return summary
