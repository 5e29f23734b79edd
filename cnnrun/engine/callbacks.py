"""Keras's own callbacks a config asks for: early stopping, an LR schedule, TensorBoard."""

from __future__ import annotations

from pathlib import Path

import keras

from cnnrun.config.schema import Config


def keras_callbacks(cfg: Config, run_dir: Path) -> list[keras.callbacks.Callback]:
    """The callbacks of `early_stopping`, `train.lr_schedule` and `logging.tensorboard`."""
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
    s = cfg.train.lr_schedule
    if s is not None and s.name == "reduce_on_plateau":  # the others are per-step schedules
        out.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=s.factor, patience=s.patience, min_lr=s.min_lr
            )
        )
    if cfg.logging.tensorboard:
        out.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    return out
