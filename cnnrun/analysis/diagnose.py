"""Reading learning curves: best epoch and an over/underfitting verdict, in plain Python.

Overfitting follows Prechelt, "Early Stopping - But When?" (1998):
generalization loss GL(t) = 100 * (E_va(t) / min_{t'<=t} E_va(t') - 1),
training progress P_k(t) = 1000 * (sum of E_tr over the last k epochs / (k * their min) - 1),
and the progress quotient PQ = GL / P_k.

Example:
    >>> d = diagnose({"loss": [1.0, .5, .3, .2, .1], "val_loss": [1.0, .6, .5, .55, .7]})
    >>> d.verdict, d.best_epoch
    ('overfitting', 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

# Prechelt's strip length: training progress is measured over the last 5 epochs.
STRIP = 5
# GL above 5 (validation loss 5% above its best) is Prechelt's GL5 criterion, his middle choice
# between stopping too eagerly (GL1) and too late (GL10+).
GL_OVERFIT = 5.0
# PQ above 3: validation loss rises much faster than training improves (Prechelt's PQ3).
PQ_OVERFIT = 3.0
# P_k above 10 per mille (the strip's mean 1% above its minimum): training is still falling
# fast, so stopping now leaves accuracy on the table.
PROGRESS_UNDERFIT = 10.0
# Below 0.1 nats a model puts ~90% or more on the right class of its training images on average:
# it fits them, so relative progress on such a small loss is polish, not underfitting.
FITTED_LOSS = 0.1
# Training loss within 10% of ln(K), the loss of a uniform guess, has learned close to nothing.
CHANCE_FRACTION = 0.9
# Training loss ending above twice its first value is an explosion, not noise.
EXPLODE_FACTOR = 2.0
# Training loss ending 10x above ln(K) is far worse than guessing: the weights blew up.
EXPLODE_VS_CHANCE = 10.0
MIN_EPOCHS = 3
# A validation loss that the last strip of epochs lowered by less than 0.01 nats (about 1% more
# probability on the right class, per image) has settled: what more epochs buy is polish.
VAL_POLISH = 0.01


@dataclass(frozen=True)
class Diagnosis:
    """What the curves say.

    Args:
        verdict: `overfitting`, `underfitting`, `converged`, `diverged` or `too short to tell`.
        reason: one line with the numbers behind the verdict.
        best_epoch: 1-based epoch with the best monitored value (None if none is finite).
        best_value: that value.
        wasted_epochs: epochs trained after the best one.
        gl, progress, pq: Prechelt's GL, P_5 and PQ at the last epoch (None when undefined).
    """

    verdict: str
    reason: str
    best_epoch: int | None
    best_value: float | None
    monitor: str
    wasted_epochs: int
    gl: float | None = None
    progress: float | None = None
    pq: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def best_epoch(values: Sequence[float], mode: str = "min") -> int | None:
    """1-based index of the best finite value (the first one on ties), or None."""
    best = None
    for i, v in enumerate(values):
        if not math.isfinite(v):
            continue
        if best is None or (v < values[best] if mode == "min" else v > values[best]):
            best = i
    return None if best is None else best + 1


def generalization_loss(val: Sequence[float]) -> float:
    """Prechelt's GL at the last epoch: how far (in %) validation loss is above its minimum.

    A minimum of 0 (every validation image right with full confidence, in float32) makes
    any later rise infinitely many percent, and none no rise at all.
    """
    best = min(val)
    if best <= 0.0:
        return 0.0 if val[-1] <= best else math.inf
    return 100.0 * (val[-1] / best - 1.0)


def training_progress(train: Sequence[float], k: int = STRIP) -> float:
    """Prechelt's P_k at the last epoch, in per mille; needs k epochs."""
    strip = train[-k:]
    low = min(strip)
    if low <= 0.0:  # a training loss of 0: progress, if any, is unbounded
        return 0.0 if max(strip) <= low else math.inf
    return 1000.0 * (sum(strip) / (len(strip) * low) - 1.0)


def diagnose(
    history: dict[str, Sequence[float]],
    monitor: str = "val_loss",
    mode: str = "min",
    num_classes: int | None = None,
    loss_floor: float = 0.0,
) -> Diagnosis:
    """Verdict on a run from its per-epoch history.

    Args:
        history: columns such as `loss`, `val_loss`, `accuracy` (one value per epoch).
        monitor: the column the best epoch is chosen by.
        mode: `min` or `max` for `monitor`.
        num_classes: for the near-chance underfitting check; None skips it.
        loss_floor: the lowest loss the targets allow (above 0 with label smoothing, see
            `smoothing_floor`); the verdict reads the losses above it.
    """
    if loss_floor:
        diag = diagnose(
            {
                k: [x - loss_floor for x in v] if k in ("loss", "val_loss") else v
                for k, v in history.items()
            },
            monitor,
            mode,
            num_classes,
        )
        watched = list(history.get(monitor) or [])
        value = watched[diag.best_epoch - 1] if diag.best_epoch else None
        floor = f" (losses above the {loss_floor:.3g} that label smoothing cannot go below)"
        return replace(diag, reason=diag.reason + floor, best_value=value)
    train = list(history.get("loss") or [])
    val = list(history.get("val_loss") or [])
    watched = list(history.get(monitor) or [])
    n = len(train)
    best = best_epoch(watched, mode)
    best_value = watched[best - 1] if best else None
    wasted = n - best if best else 0

    def verdict(name: str, reason: str, **extra: float | None) -> Diagnosis:
        return Diagnosis(name, reason, best, best_value, monitor, wasted, **extra)

    bad = [i + 1 for i, v in enumerate(train + val) if not math.isfinite(v)]
    if bad:
        epoch = bad[0] if bad[0] <= n else bad[0] - n
        return verdict("diverged", f"loss became NaN or infinite at epoch {epoch}")
    if n and train[-1] > EXPLODE_FACTOR * train[0]:
        return verdict("diverged", f"training loss grew from {train[0]:.4g} to {train[-1]:.4g}")
    if (
        n
        and num_classes
        and num_classes > 1
        and train[-1] > EXPLODE_VS_CHANCE * math.log(num_classes)
    ):
        return verdict(
            "diverged",
            f"training loss {train[-1]:.4g} is far above chance level ln({num_classes}) = "
            f"{math.log(num_classes):.4g}; lower the learning rate",
        )
    if n < MIN_EPOCHS or len(val) < n:
        what = "no validation loss" if len(val) < n else f"{n} epoch(s)"
        return verdict(
            "too short to tell",
            f"{what}; curves need {MIN_EPOCHS}+ epochs of training and validation loss",
        )

    gl = generalization_loss(val)
    progress = training_progress(train, min(STRIP, n))
    pq = gl / progress if progress else None
    extra = {"gl": gl, "progress": progress, "pq": pq}
    val_best = val.index(min(val)) + 1
    still_learning = train[-1] < train[val_best - 1]
    rising = gl > GL_OVERFIT or (pq is not None and pq > PQ_OVERFIT)
    if val_best < n and still_learning and rising:
        return verdict(
            "overfitting",
            f"validation loss rose {gl:.1f}% above its minimum {min(val):.4g} (epoch {val_best}) "
            f"while training loss kept falling to {train[-1]:.4g}",
            **extra,
        )
    if num_classes and num_classes > 1 and train[-1] > CHANCE_FRACTION * math.log(num_classes):
        return verdict(
            "underfitting",
            f"training loss {train[-1]:.4g} is near chance level ln({num_classes}) = "
            f"{math.log(num_classes):.4g}",
            **extra,
        )
    still_falling = progress is not None and progress > PROGRESS_UNDERFIT and val_best >= n - 1
    if still_falling:
        return verdict(*_still_falling(train, val, progress), **extra)
    return verdict(
        "converged",
        f"validation loss is {gl:.1f}% above its minimum {min(val):.4g} (epoch {val_best})",
        **extra,
    )


def smoothing_floor(smoothing: float, num_classes: int) -> float:
    """The cross-entropy of a perfect prediction of label-smoothed targets: their entropy.

    Example:
        >>> round(smoothing_floor(0.1, 10), 3)
        0.5
    """
    if not smoothing or num_classes < 2:
        return 0.0
    on, off = 1 - smoothing + smoothing / num_classes, smoothing / num_classes
    return -(on * math.log(on) + (num_classes - 1) * off * math.log(off))


def _still_falling(train: list[float], val: list[float], progress: float) -> tuple[str, str]:
    """The verdict and reason when both losses still fall at the last epoch."""
    if train[-1] > FITTED_LOSS:
        return (
            "underfitting",
            f"both losses still falling at the last epoch (training progress "
            f"P{min(STRIP, len(train))} = {progress:.0f} per mille); train longer",
        )
    fitted = f"training loss {train[-1]:.4g} fits the training data"
    gain = min(val[:-STRIP]) - val[-1] if len(val) > STRIP else None
    if gain is not None and gain < VAL_POLISH:
        return (
            "converged",
            f"{fitted}; validation loss gained only {gain:.3g} over the last {STRIP} epochs, "
            f"to {val[-1]:.4g}: it has settled",
        )
    return (
        "converged",
        f"{fitted}; validation loss was still falling at the last epoch ({val[-1]:.4g}), so "
        "more epochs may help a little",
    )


# A moving-average validation loss this many times the recomputed one is the averages' lag,
# not the network: the verdict says so instead of reading the curves.
BN_INFLATION = 1.5


def batchnorm_inflation(diag: Diagnosis, batchnorm: dict | None) -> Diagnosis:
    """The verdict when batchnorm's moving averages inflate the validation loss.

    Args:
        diag: the curves' diagnosis.
        batchnorm: the summary's `batchnorm` record, with `val_loss_moving` and
            `val_loss_precise` at the best epoch when the run measured both.
    """
    both = (batchnorm or {}).get("val_loss_moving"), (batchnorm or {}).get("val_loss_precise")
    moving, precise = both
    if moving is None or precise is None or not precise > 0 or moving <= BN_INFLATION * precise:
        return diag
    reason = (
        f"batchnorm's moving averages inflate the validation loss at the best epoch: "
        f"{moving:.4g} with them, {precise:.4g} with statistics recomputed at test time; "
        "the curve shows their lag (train.batchnorm_stats: precise draws the true one)"
    )
    return replace(diag, verdict="inflated by batchnorm", reason=reason)
