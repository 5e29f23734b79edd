"""Learning curves as images: one run's curves, or several runs overlaid (matplotlib Agg).

Uses `matplotlib.figure.Figure` directly rather than pyplot: no global figure state and no
GUI backend, so it is safe in CI and in a process that trains.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

from cnnrun.analysis import figure as mpl
from cnnrun.analysis.diagnose import Diagnosis, batchnorm_inflation, best_epoch, diagnose
from cnnrun.runs.folder import read_history
from cnnrun.runs.names import CURVES
from cnnrun.runs.summary import RunSummary, read_summary

NOT_METRICS = {"epoch", "lr", "seconds"}
VERDICT_COLOURS = {
    "overfitting": "#c0392b",
    "underfitting": "#b9770e",
    "diverged": "#c0392b",
    "converged": "#1e8449",
    "inflated by batchnorm": "#7d3c98",
}


def metric_names(history: dict[str, list[float]]) -> list[str]:
    """Base metric names in a history, loss first: `['loss', 'accuracy']`."""
    names = [k for k in history if k not in NOT_METRICS and not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]
    return sorted(names, key=lambda k: (k != "loss", k))


def draw_metric(
    history: dict[str, list[float]],
    metric: str,
    path: Path,
    title: str,
    best: int | None,
    diagnosis: Diagnosis | None,
    phase_starts: Sequence[int] = (),
) -> Path:
    """One PNG: training and validation `metric` per epoch, the best epoch marked, and where
    each of `train.phases` after the first starts (`phase_starts`, 1-based epochs)."""
    epochs = [int(e) for e in history.get("epoch", range(1, len(history[metric]) + 1))]
    fig = mpl.figure(7.0, 4.6, left=0.1, right=0.97, bottom=0.11, top=0.8)
    ax = fig.subplots()
    markers = dict(marker="o", markersize=3.5) if len(epochs) <= 40 else {}
    for key, label, colour in (
        (metric, "training", "#1f77b4"),
        (f"val_{metric}", "validation", "#ff7f0e"),
    ):
        if key in history:
            ax.plot(
                *mpl.finite(epochs, history[key]), color=colour, linewidth=2, label=label, **markers
            )
    for k, start in enumerate(phase_starts):
        label = "a phase starts" if k == 0 else None
        ax.axvline(start - 0.5, color="#2e7d32", linestyle=":", linewidth=1.4, label=label)
    val = history.get(f"val_{metric}")
    if best is not None and 1 <= best <= len(epochs):
        ax.axvline(best, color="0.35", linestyle="--", linewidth=1)
        if best < epochs[-1]:
            ax.axvspan(
                best,
                epochs[-1],
                color="#c0392b",
                alpha=0.06,
                linewidth=0,
                label="after the best epoch",
            )
        if val is not None and math.isfinite(val[best - 1]):
            ax.plot(
                [best],
                [val[best - 1]],
                marker="*",
                markersize=15,
                color="#c0392b",
                linestyle="none",
                label=f"best epoch {best}: {val[best - 1]:.4g}",
                zorder=5,
            )
    mpl.style(ax, metric.replace("_", " "))
    ax.legend(frameon=False, loc="best")
    fig.suptitle(
        f"{title}: {metric.replace('_', ' ')}", fontweight="bold", x=0.02, y=0.98, ha="left"
    )
    if diagnosis is not None:
        colour = VERDICT_COLOURS.get(diagnosis.verdict, "0.3")
        box = {"boxstyle": "round,pad=0.35", "fc": "white", "ec": colour, "lw": 0.8}
        text = textwrap.fill(f"{diagnosis.verdict}: {diagnosis.reason}", 100)
        mpl.title(ax, text, fontsize=8.5, color=colour, pad=8, bbox=box)
    mpl.save(fig, path)
    return path


def draw_run(run_dir: Path) -> list[Path]:
    """Redraw `curves/<metric>.png` for every metric of a run, from its files alone."""
    history = read_history(run_dir)
    if not history or not history.get("loss"):
        return []
    try:
        summary = read_summary(run_dir)
    except (OSError, ValueError):
        summary = RunSummary()
    diag = diagnose(history, summary.monitor, summary.mode, summary.num_classes, summary.loss_floor)
    diag = batchnorm_inflation(diag, summary.batchnorm)
    best = summary.best_epoch or diag.best_epoch
    title = summary.name or run_dir.name
    starts = [p["first_epoch"] for p in (summary.phases or [])[1:] if "first_epoch" in p]
    return [
        draw_metric(history, m, run_dir / CURVES / f"{m}.png", title, best, diag, starts)
        for m in metric_names(history)
    ]


def _ema(values: list[float], weight: float) -> list[float]:
    out, last = [], None
    for v in values:
        last = v if last is None or not math.isfinite(last) else weight * last + (1 - weight) * v
        out.append(last)
    return out


def draw_overlay(
    run_dirs: Sequence[Path],
    output: Path,
    metrics: Sequence[str] | None = None,
    smooth: float = 0.0,
    log_y: bool = False,
) -> Path:
    """One figure comparing runs: a panel per metric, a colour per run, dashed validation."""
    runs = []
    for d in run_dirs:
        history = read_history(d)
        try:
            summary = read_summary(d)
        except (OSError, ValueError):
            summary = RunSummary()
        runs.append((d, history, summary))
    names = list(metrics or [])
    if not names:
        for _, history, _ in runs:
            names += [m for m in metric_names(history) if m not in names]
    fig, axes = mpl.panels(len(names), legend_width=2.6, height=4.4, top=0.84)
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, metric in zip(axes, names, strict=True):
        for (d, history, summary), colour in zip(runs, colours, strict=True):
            label = summary.name or d.name
            epochs = [int(e) for e in history.get("epoch", [])]
            for key, style, suffix in ((metric, "-", "train"), (f"val_{metric}", "--", "val")):
                if key not in history:
                    continue
                values = _ema(history[key], smooth) if smooth else history[key]
                ax.plot(
                    *mpl.finite(epochs, values),
                    style,
                    color=colour,
                    linewidth=1.8,
                    label=f"{label} ({suffix})",
                )
            val = history.get(f"val_{metric}")
            # The run's own best epoch (by its monitor) on every panel, not each metric's.
            best = summary.best_epoch or (
                best_epoch(val, "min" if "loss" in metric else "max") if val else None
            )
            if best and val and best <= len(val) and math.isfinite(val[best - 1]):
                ax.plot(
                    [best],
                    [val[best - 1]],
                    marker="*",
                    markersize=12,
                    color=colour,
                    linestyle="none",
                )
        mpl.style(ax, metric.replace("_", " "), log_y)
        mpl.title(ax, metric.replace("_", " "), fontweight="bold")
    return mpl.close_panels(
        fig, axes, "solid: training, dashed: validation, star: best epoch", output
    )


def draw_confusion(scores: dict, path: Path, title: str = "confusion matrix") -> Path:
    """A confusion matrix image: counts in the cells, rows are the true classes."""
    import numpy as np

    cm = np.array(scores["confusion_matrix"])
    names = scores["class_names"]
    k = len(names)
    size = max(4.0, min(14.0, 0.45 * k + 2.5))
    fig = mpl.figure(size, size * 0.9, left=0.14, right=0.97, bottom=0.12, top=0.86)
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=45 if k > 10 else 0, ha="right" if k > 10 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 30:
        peak = cm.max() or 1
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        str(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if cm[i, j] > peak / 2 else "black",
                    )
    mpl.title(
        ax,
        f"{title}\naccuracy {scores['accuracy']:.4f} on {scores['samples']} inputs",
        fontsize=10,
        fontweight="bold",
    )
    mpl.save(fig, path)
    return path


def _mean_std_by_epoch(series: list[list[float]]) -> tuple[list[int], list[float], list[float]]:
    """Per epoch, mean and std over the runs that reached it (runs may stop early)."""
    from cnnrun.analysis.stats import mean_std

    epochs, means, stds = [], [], []
    for e in range(max((len(s) for s in series), default=0)):
        m, s = mean_std([run[e] for run in series if e < len(run)])
        if math.isfinite(m):
            epochs.append(e + 1)
            means.append(m)
            stds.append(s)
    return epochs, means, stds


def draw_bands(
    groups: dict[str, list[dict[str, list[float]]]],
    output: Path,
    title: str = "sweep",
) -> Path:
    """One figure for a sweep: per metric, each variant's mean validation curve over its
    seeds with a shaded band of +-1 std, and its mean training curve dotted; losses on a log
    scale."""
    names: list[str] = []
    for hs in groups.values():
        for h in hs:
            names += [m for m in metric_names(h) if m not in names]
    fig, axes = mpl.panels(len(names), legend_width=3.2, height=4.6, top=0.82)
    for ax, metric in zip(axes, names, strict=False):
        for i, (variant, hs) in enumerate(groups.items()):
            colour = f"C{i % 10}"
            val = [h[f"val_{metric}"] for h in hs if f"val_{metric}" in h]
            train = [h[metric] for h in hs if metric in h]
            if val:
                e, m, s = _mean_std_by_epoch(val)
                ax.plot(e, m, color=colour, linewidth=2, label=f"{variant} (n={len(val)})")
                lo = [a - b for a, b in zip(m, s, strict=True)]
                hi = [a + b for a, b in zip(m, s, strict=True)]
                ax.fill_between(e, lo, hi, color=colour, alpha=0.18, linewidth=0)
            if train:
                e, m, _ = _mean_std_by_epoch(train)
                ax.plot(e, m, ":", color=colour, linewidth=1.4)
        # Variants differ late, where losses are small: a log scale keeps that part readable.
        mpl.style(ax, metric.replace("_", " "), log_y="loss" in metric)
        mpl.title(ax, metric.replace("_", " "), fontweight="bold")
    axes[-1].plot([], [], ":", color="0.4", linewidth=1.4, label="training (mean)")
    note = f"{title}: validation mean and +-1 std over seeds (band), training mean (dotted)"
    return mpl.close_panels(fig, axes, note, output)
