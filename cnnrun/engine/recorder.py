"""What happens at each batch and epoch end of a run: history rows, best and last weights,
summary, NaN and signal stops, exact dropout randomness.

Files are written on the training thread at each epoch end, as Keras's own `ModelCheckpoint`
does: first the history, then the best and last weights, then the summary. A kill between any
two leaves a run that resumes exactly (`cnnrun.engine.training.resume`). Keras walks the
model for the last weights (with the optimizer's state) until the layout of its file is
known (`cnnrun.engine.snapshot`), then the file is written from that layout; the best file is
copied from the last one without the optimizer.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun import atomic
from cnnrun.engine import snapshot
from cnnrun.runs import folder as runs
from cnnrun.runs import names, weights
from cnnrun.runs.events import Observer, Reporter
from cnnrun.runs.summary import RunSummary, write_summary


class StopRequested(Exception):
    """Raised from a batch end after the first Ctrl-C or SIGTERM."""


# Each epoch's dropout and augmentation randomness starts at epoch * EPOCH_STRIDE in its seed
# generator's counter: far more than the random calls of one epoch (one per step per layer),
# so epochs never overlap, and a resumed epoch draws exactly what it drew the first time.
EPOCH_STRIDE = 2**20


def seed_generators(model: keras.Model) -> list[Any]:
    """The seed generators of Dropout and augmentation layers, in layer order."""
    found = []
    for layer in model.layers:
        found += [v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]
    return found


def write_weights(model: keras.Model, path: Path, metadata: dict, with_optimizer: bool) -> None:
    """Keras's weights file with cnnrun's metadata, at `path` (a temporary file)."""
    skip = [] if with_optimizer else [model.optimizer]
    keras.saving.save_weights(model, path, objects_to_skip=skip)
    weights.add_metadata(path, metadata)


def save_weights(model: keras.Model, final: Path, metadata: dict, with_optimizer: bool) -> None:
    """Write a self-describing weights file atomically (`cnnrun.atomic`)."""
    with atomic.atomic_path(final) as tmp:
        write_weights(model, tmp, metadata, with_optimizer)


@dataclass
class Recorder(keras.callbacks.Callback):
    """Per epoch: history row, best and last weights, summary; stops on a non-finite loss."""

    run_dir: Path
    columns: list[str]
    summary: RunSummary
    metadata: dict
    reporter: Reporter
    monitor: str
    mode: str
    seed: int
    rows: list[dict] = field(default_factory=list)
    best: float = math.nan
    nan_at: tuple[int, int] | None = None
    observers: list[Observer] = field(default_factory=list)
    pruned_at: int | None = None
    stop: dict = field(default_factory=lambda: {"requested": False})
    _t0: float = 0.0
    _generators: list[Any] | None = None
    _layout: snapshot.Layout | None = None
    first_batch_unix: float | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def _better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if math.isnan(self.best):
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def _save(self, name: str, extra: dict, with_optimizer: bool) -> None:
        save_weights(self.model, self.run_dir / name, {**self.metadata, **extra}, with_optimizer)

    def _save_epoch(self, extra: dict, improved: bool) -> None:
        """last.weights.h5, and best.weights.h5 when the epoch improved, best moved in first."""
        metadata = {**self.metadata, **extra}
        if self.nan_at is not None:  # a diverged epoch's weights are not worth keeping
            return
        with atomic.atomic_path(self.run_dir / names.LAST) as last:
            self._write_last(last, metadata)
            if improved:
                with atomic.atomic_path(self.run_dir / names.BEST) as best:
                    weights.copy_model_weights(last, best)

    def _write_last(self, path: Path, metadata: dict) -> None:
        """last.weights.h5 into `path`: from the file's layout once it is known, else by
        Keras's walk, learning the layout when enough epochs remain to repay it."""
        if self._layout is not None and self._layout.fits(self.model):
            snapshot.write(self._layout, path)
        else:
            keras.saving.save_weights(self.model, path)
            self._layout = self._learn(path) if self._worth_learning() else None
        weights.add_metadata(path, metadata)

    def _worth_learning(self) -> bool:
        # Learning costs one more walk; it pays once two later epochs of this fit skip theirs.
        # Under a distribution strategy the variables are per replica: Keras's walk it is.
        left = int((self.params or {}).get("epochs", 0)) - len(self.rows)
        return left >= 2 and not tf.distribute.has_strategy()

    def _learn(self, written: Path) -> snapshot.Layout | None:
        """The layout of Keras's file, kept only if it renders the file Keras just wrote."""
        scratch = atomic.temp_name(self.run_dir / "snapshot.weights.h5")
        plan = snapshot.layout(self.model, with_optimizer=True, scratch=scratch)
        if plan is None or snapshot.render(plan) != written.read_bytes():
            return None
        return plan

    def on_train_begin(self, logs: dict | None = None) -> None:
        # The untrained weights are the first "best": a run that diverges in its first epoch
        # still leaves a loadable best file (epoch 0).
        if not (self.run_dir / names.BEST).exists():
            self._save(names.BEST, {"epoch": 0, "monitor": self.monitor, "value": math.nan}, False)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._generators is None:  # the layers do not change during fit
            self._generators = seed_generators(self.model)
        for i, gen in enumerate(self._generators):
            start = [(self.seed * 1009 + i) % 2**31, epoch * EPOCH_STRIDE]
            gen.state.assign(np.array(start, dtype=gen.state.dtype))
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.first_batch_unix is None:  # how long start-up took, for benchmarks and users
            self.first_batch_unix = time.time()
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.nan_at is None:
            self.nan_at = (len(self.rows) + 1, batch + 1)
            self.model.stop_training = True
        if self.stop["requested"]:
            raise StopRequested
        self.reporter.batch(batch + 1, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        # via float32 text: 0.001 rather than 0.0010000000474974513
        lr = float(str(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        row = {"epoch": epoch + 1, **logs, "lr": lr}
        row["seconds"] = round(time.perf_counter() - self._t0, 4)
        self.rows.append(row)
        value = logs.get(self.monitor, math.nan)
        improved = self._better(value) and self.nan_at is None
        extra = {"epoch": epoch + 1, "monitor": self.monitor, "value": value}
        runs.write_history(self.run_dir, self.columns, self.rows)
        self._save_epoch(extra, improved)
        if improved:
            self.best = value
            self.summary.best_epoch, self.summary.best_value = epoch + 1, value
            self.summary.best_metrics = {k: v for k, v in row.items() if k != "seconds"}
        self.summary.epochs_run = epoch + 1
        write_summary(self.run_dir, self.summary)
        self.reporter.epoch(row, improved)
        # every observer sees every epoch, even once one of them has asked to stop
        if any([o.epoch(row) for o in self.observers]) and self.nan_at is None:
            self.pruned_at = epoch + 1
            self.model.stop_training = True


@contextmanager
def stop_on_signals(stop: dict, reporter: Reporter) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop at the next batch end; a second: stop at once.

    One that comes while the run folder is being finished waits for it, then is raised again
    for whoever handled it before (a worker stops before its next run).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.get("cleanup"):  # the run folder is being finished: a second or two
            reporter.note("finishing the run folder; it is almost done")
            stop["late"] = signum
            return
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        reporter.note(
            f"{signal.Signals(signum).name}: stopping after this batch "
            "(press Ctrl-C again to stop at once)"
        )

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if stop.get("late"):  # the finished run is whole; now the signal does what it would have
        signal.raise_signal(stop["late"])
