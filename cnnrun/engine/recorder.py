"""What happens at each batch and epoch end of a run: history rows, best and last weights
(written on a background thread), summary, NaN and signal stops, exact dropout randomness.
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
from typing import Any, Protocol

import keras
import numpy as np
import tensorflow as tf

from cnnrun.runs import folder as runs
from cnnrun.runs import weights as checkpoint


class Reporter(Protocol):
    """What the face shows while training; `training` knows nothing of terminals."""

    def start(self, epochs: int, steps_per_epoch: int) -> None: ...
    def batch(self, step: int, logs: dict[str, float]) -> None: ...
    def epoch(self, row: dict[str, float], improved: bool) -> None: ...
    def end(self) -> None: ...
    def note(self, message: str) -> None: ...


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


class Saver:
    """Writes history, summary, best and last weights on a background thread.

    On the training thread these writes took 17.7 ms an epoch on the digits network (4% of
    its 0.42 s epoch): `save_weights` walks every layer and optimizer variable through h5py,
    and every file is fsynced. Now the training thread reads all variables in one graph call
    and makes the texts (2.8 ms an epoch in all, measured) and goes on; a thread loads the
    values into a twin model and writes the files. The next epoch's save, the end of training
    and an interruption wait for the previous one, so the files are never behind by more than
    the epoch being written, and resume reads the epoch a weights file holds from its
    metadata.
    """

    def __init__(self, model: keras.Model, twin: keras.Model) -> None:
        with tf.device("/CPU:0"):
            twin.optimizer.build(twin.trainable_variables)
        self.sources = [*model.variables, *model.optimizer.variables]
        self.targets = [*twin.variables, *twin.optimizer.variables]
        if [tuple(v.shape) for v in self.sources] != [tuple(v.shape) for v in self.targets]:
            raise ValueError("the twin model's variables do not match")
        self.twin = twin
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        # One graph call reads every variable: one at a time cost ~10 ms an epoch in op
        # dispatch for a 10k-parameter network.
        self._read = tf.function(lambda: [tf.identity(v.value) for v in self.sources])

    def submit(
        self,
        texts: list[tuple[Path, str]],
        jobs: list[tuple[Path, dict, bool]],
        finalize_metadata: dict,
    ) -> None:
        """Write the text files, then the `(final path, extra metadata, with optimizer)`
        weights files from the current values. Texts go first: the history on disk is then
        never behind the weights, which is what resume relies on."""
        self.wait()
        values = [t.numpy() for t in self._read()]  # fresh tensors: training cannot change them

        def write() -> None:
            try:
                for path, text in texts:
                    runs.atomic_write_text(path, text)
                for target, value in zip(self.targets, values, strict=True):
                    target.assign(value)
                for final, extra, with_optimizer in jobs:
                    tmp = checkpoint.temp_path(final)
                    skip = [] if with_optimizer else [self.twin.optimizer]
                    keras.saving.save_weights(self.twin, tmp, objects_to_skip=skip)
                    checkpoint.finalize(tmp, final, {**finalize_metadata, **extra})
            except BaseException as e:  # noqa: BLE001 - raised on the training thread
                self.error = e

        self.thread = threading.Thread(target=write, name="cnnrun-checkpoint", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        """Block until the last write is on disk; raise its error, if it had one."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error


@dataclass
class Recorder(keras.callbacks.Callback):
    """Per epoch: history row, best and last weights, summary; stops on a non-finite loss."""

    run_dir: Path
    columns: list[str]
    summary: dict
    metadata: dict
    reporter: Reporter
    monitor: str
    mode: str
    seed: int
    rows: list[dict] = field(default_factory=list)
    best: float = math.nan
    nan_at: tuple[int, int] | None = None
    stop: dict = field(default_factory=lambda: {"requested": False})
    _t0: float = 0.0
    _generators: list[Any] | None = None
    first_batch_unix: float | None = None
    saver: Saver | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def _better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if math.isnan(self.best):
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_train_begin(self, logs: dict | None = None) -> None:
        # The untrained weights are the first "best": a run that diverges in its first epoch
        # still leaves a loadable best file (epoch 0).
        if not (self.run_dir / runs.BEST).exists():
            epoch0 = {"epoch": 0, "monitor": self.monitor, "value": math.nan}
            self._submit([], [(runs.BEST, epoch0, False)])

    def on_train_end(self, logs: dict | None = None) -> None:
        self.finish_writes()

    def finish_writes(self, raise_errors: bool = True) -> None:
        """Wait for the checkpoint thread; on an error path, do not hide the first error."""
        if self.saver is None:
            return
        try:
            self.saver.wait()
        except Exception:
            if raise_errors:
                raise

    def _save_epoch(self, jobs: list[tuple[str, dict, bool]]) -> None:
        # The texts are made here, on the training thread, from this epoch's state; only the
        # disk writes (fsyncs) move to the saver's thread.
        texts = [
            (self.run_dir / runs.HISTORY, runs.history_text(self.columns, self.rows)),
            (self.run_dir / runs.SUMMARY, runs.summary_text(self.summary)),
        ]
        self._submit(texts, jobs)

    def _submit(self, texts: list[tuple[Path, str]], jobs: list[tuple[str, dict, bool]]) -> None:
        """Hand texts and `(file name, extra metadata, with optimizer)` jobs to the saver."""
        if self.saver is None:
            raise RuntimeError("Recorder.saver must be set before training")
        files = [(self.run_dir / name, extra, opt) for name, extra, opt in jobs]
        self.saver.submit(texts, files, self.metadata)

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
        row = {
            "epoch": epoch + 1,
            **logs,
            "lr": lr,
            "seconds": round(time.perf_counter() - self._t0, 4),
        }
        self.rows.append(row)
        value = logs.get(self.monitor, math.nan)
        improved = self._better(value) and self.nan_at is None
        extra = {"epoch": epoch + 1, "monitor": self.monitor, "value": value}
        jobs = []
        if improved:
            self.best = value
            jobs.append((runs.BEST, extra, False))
            self.summary.update(
                best_epoch=epoch + 1,
                best_value=value,
                best_metrics={k: v for k, v in row.items() if k != "seconds"},
            )
        if self.nan_at is None:
            jobs.append((runs.LAST, extra, True))
        self.summary["epochs_run"] = epoch + 1
        self._save_epoch(jobs)
        self.reporter.epoch(row, improved)


@contextmanager
def stop_on_signals(stop: dict, reporter: Reporter) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop at the next batch end; a second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.get("cleanup"):  # the run folder is being finished: a second or two
            reporter.note("finishing the run folder; it is almost done")
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
