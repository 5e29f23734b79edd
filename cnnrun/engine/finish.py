"""The end of a run, however it ended: history, diagnosis, timings, summary and curves."""

from __future__ import annotations

import contextlib
import math
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from cnnrun.analysis.curves import draw_run
from cnnrun.analysis.diagnose import batchnorm_inflation, diagnose
from cnnrun.engine.recorder import Recorder
from cnnrun.runs import folder as runs
from cnnrun.runs.summary import RunSummary, Timings, write_summary


def finish(
    run_dir: Path,
    summary: RunSummary,
    recorder: Recorder,
    status: str,
    reason: str | None,
    t0: float,
) -> None:
    """Final summary, diagnosis and curves; also on failure or interruption."""
    recorder.stop["cleanup"] = True
    rows = recorder.rows
    history = {k: [float(r.get(k, math.nan)) for r in rows] for k in recorder.columns}
    diag = diagnose(history, summary.monitor, summary.mode, summary.num_classes, summary.loss_floor)
    diag = batchnorm_inflation(diag, summary.batchnorm)
    epoch_s = [r["seconds"] for r in rows]
    median = float(np.median(epoch_s)) if epoch_s else None
    summary.status, summary.reason, summary.epochs_run = status, reason, len(rows)
    summary.finished = datetime.now().isoformat(timespec="seconds")
    summary.diagnosis = diag.as_dict()
    summary.timings = Timings(
        first_batch_done_unix=recorder.first_batch_unix,
        fit_s=round(time.perf_counter() - t0, 3),
        mean_epoch_s=round(float(np.mean(epoch_s)), 4) if epoch_s else None,
        median_epoch_s=round(median, 4) if median else None,
        train_samples_per_s=round(summary.data.counts["train"] / median, 1) if median else None,
    )
    try:
        runs.write_history(run_dir, recorder.columns, rows)
        write_summary(run_dir, summary)
        if rows:
            draw_run(run_dir)
    except OSError as e:  # a full disk, say: the summary says so if it still can be written
        if status != "failed":
            summary.status, summary.reason = "failed", f"cannot write the run folder: {e}"
        with contextlib.suppress(OSError):
            write_summary(run_dir, summary)
        raise
