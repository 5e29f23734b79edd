"""The matplotlib plumbing every figure shares: Agg figures, panels, styles, atomic saves.

Uses `matplotlib.figure.Figure` directly rather than pyplot: no global figure state and no
GUI backend, so it is safe in CI and in a process that trains.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnrun import atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def figure(width: float, height: float, **margins: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    # Fixed margins rather than constrained layout: the layout engine measures every text
    # twice, which is most of a small figure's drawing.
    fig = Figure(figsize=(width, height), dpi=120)
    fig.subplots_adjust(**margins)
    return fig


def panels(count: int, legend_width: float, height: float, top: float) -> tuple[Figure, Any]:
    """A figure of `count` side-by-side panels with room on the right for one legend."""
    count = max(1, count)
    width = 5.5 * count + legend_width
    fig = figure(
        width,
        height,
        left=0.8 / width,
        right=1 - legend_width / width,
        bottom=0.12,
        top=top,
        wspace=0.25,
    )
    return fig, fig.subplots(1, count, squeeze=False)[0]


def close_panels(fig: Figure, axes: Any, note: str, output: Path) -> Path:
    """The legend right of the last panel, a one-line note on top, and the file."""
    axes[-1].legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(note, fontsize=9, x=0.02, ha="left", color="0.3")
    save(fig, output)
    return output


def save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    # zlib level 1: much faster to encode than the default 6, files a little larger
    extra = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
    with atomic.atomic_path(path) as tmp, warnings.catch_warnings():
        # a run name in a script the font lacks draws as boxes; no need to say so on stderr
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(tmp, format=fmt, **extra)


def style(ax: Axes, ylabel: str, log_y: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    # A few round steps: enough to read a value off, and each tick is a handful of artists
    # to build and text to lay out (the default's ten or eleven took a tenth more drawing).
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10], integer=True))
    if not log_y:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if log_y:
        ax.set_yscale("log")


def title(ax: Axes, text: str, **kwargs: Any) -> None:
    # An explicit y keeps matplotlib from measuring every tick label at draw time to lift the
    # title above them (about 7% of the drawing); nothing here sits above an axes.
    ax.set_title(text, loc="left", y=1.0, **kwargs)


def finite(xs: Sequence[int], ys: Sequence[float]) -> tuple[list[int], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys, strict=False) if math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]
