"""The summary a run starts with: what it trains, on what data, with which versions."""

from __future__ import annotations

import platform
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnrun.analysis.diagnose import smoothing_floor
from cnnrun.data.splits import Splits
from cnnrun.engine.phases import records as phase_records
from cnnrun.hashes import json_hash
from cnnrun.plan import Plan
from cnnrun.runs.summary import DataSummary, RunSummary
from cnnrun.version import __version__


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "cnnrun": __version__,
    }


def _photo_records(splits: Splits) -> dict[str, Any]:
    """What a photo set adds: decoding, cache, files left out, how it was fingerprinted."""
    ds = splits.dataset
    if ds is None or ds.decode is None:
        return {}
    return {
        "decode": ds.decode,
        "cache": splits.cache,
        "fingerprint_kind": "files",
        "skipped": [{"file": f, "reason": r} for f, r in ds.skipped],
    }


def new_summary(
    plan: Plan, splits: Splits, strategy: Any, run_dir: Path, run_name: str
) -> RunSummary:
    """The summary of a run about to start (status `running`)."""
    cfg = plan.config
    return RunSummary(
        name=run_name,
        run_dir=str(run_dir),
        status="running",
        started=datetime.now().isoformat(timespec="seconds"),
        epochs_planned=cfg.train.epochs,
        monitor=cfg.checkpoint.monitor,
        mode=cfg.checkpoint.resolved_mode,
        num_classes=len(splits.class_names),
        params={"total": plan.table.total_params, "trainable": plan.table.trainable_params},
        seed=cfg.seed,
        deterministic=cfg.deterministic,
        distribute={
            "strategy": cfg.distribute,
            "replicas": strategy.num_replicas_in_sync if strategy else 1,
        },
        data=DataSummary(
            source=cfg.data.source,
            origin=splits.origin,
            fingerprint=splits.fingerprint,
            counts=splits.counts,
            class_names=splits.class_names,
            scale=splits.scale,
            **_photo_records(splits),
        ),
        config_hash=json_hash(cfg.resolved()),
        loss_floor=smoothing_floor(cfg.train.label_smoothing, len(splits.class_names)),
        phases=phase_records(cfg) or None,
        versions=versions(),
    )
