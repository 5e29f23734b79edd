"""`search.png`: a search's trials in order with the best so far, and the parameters'
importances (from the results `cnnrun search` keeps in `search.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnrun.analysis import figure as mpl


def short(key: str) -> str:
    """A key's last two parts, for tables: `model.layers[2].dropout.rate` is `dropout.rate`.

    Example:
        >>> short("model.layers[2].dropout.rate"), short("train.batch_size")
        ('dropout.rate', 'train.batch_size')
    """
    parts = [p for p in key.replace("[", ".").replace("]", "").split(".") if not p.isdigit()]
    return ".".join(parts[-2:])


def draw_search(results: dict[str, Any], output: Path, title: str) -> Path:
    """`search.png`: each trial's value and the best so far, and the parameter importances."""
    fig = mpl.figure(11.5, 4.2, left=0.07, right=0.97, bottom=0.14, top=0.84, wspace=0.45)
    hist, imp = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    _history(hist, results)
    _importances(imp, results.get("importances") or {})
    counts = ", ".join(f"{n} {k}" for k, n in sorted(results["counts"].items()))
    fig.suptitle(f"{title}: {counts}", fontsize=10, x=0.02, ha="left", color="0.25")
    mpl.save(fig, output)
    return output


def _history(ax: Any, results: dict[str, Any]) -> None:
    metric, minimize = results["metric"], results["direction"] == "minimize"
    styles = {"completed": ("o", "tab:blue"), "pruned": ("x", "0.55"), "failed": ("v", "tab:red")}
    for status, (marker, color) in styles.items():
        pts = [
            (r["number"], r["value"])
            for r in results["trials"]
            if r["status"] == status and r["value"] is not None
        ]
        if pts:
            ax.scatter(
                *zip(*pts, strict=True), marker=marker, color=color, s=28, label=status, zorder=3
            )
    done = sorted(
        (r["number"], r["value"])
        for r in results["trials"]
        if r["status"] == "completed" and r["value"] is not None
    )
    if done:
        best, xs, ys = None, [], []
        for n, v in done:
            best = v if best is None or (v < best if minimize else v > best) else best
            xs.append(n)
            ys.append(best)
        ax.step(xs, ys, where="post", color="tab:orange", linewidth=1.8, label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    values = [r["value"] for r in results["trials"] if r["value"] is not None]
    if values and min(values) > 0 and max(values) / min(values) > 10:
        ax.set_yscale("log")  # pruned trials far above would flatten the good ones
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} (best epoch; pruned: last)")
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, fontsize=8)
    mpl.title(ax, "optimisation history", fontsize=10)


def _importances(ax: Any, imp: dict[str, float]) -> None:
    mpl.title(ax, "parameter importance (fANOVA)", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not imp:
        ax.text(
            0.5,
            0.5,
            "needs 2+ finished trials\nwith different values",
            ha="center",
            va="center",
            color="0.4",
            transform=ax.transAxes,
        )
        ax.set_xticks([])
        ax.set_yticks([])
        return
    names = list(imp)[::-1]  # the most important on top
    ax.barh(range(len(names)), [imp[n] for n in names], color="tab:blue", height=0.6)
    ax.set_yticks(range(len(names)), [short(n) for n in names], fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the value's variance")
    for i, n in enumerate(names):
        ax.text(imp[n] + 0.02, i, f"{imp[n]:.2f}", va="center", fontsize=8)
