"""Figures about one model's answers: the errors gallery, the reliability diagram, Grad-CAM.

Plain NumPy and matplotlib: the engine computes the probabilities and heatmaps, these draw
them. Images are drawn as the network saw them (after resizing), grey or colour as trained.

Example:
    ```python
    worst = worst_errors(y, probabilities)
    draw_errors(x[[e["index"] for e in worst]], worst, class_names, len(y), Path("e.png"))
    ```
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.analysis import figure as mpl

ERRORS, RELIABILITY, CAM = "errors.png", "reliability.png", "cam.png"


def _shown(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An image scaled to 0..1 for display, and its colour map (grey for one channel)."""
    img = np.asarray(image, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        return img[..., 0], "gray"
    return img, None


def _grid(count: int, cols: int = 5, cell: float = 1.9, extra_h: float = 0.55) -> Any:
    cols = max(1, min(cols, count))
    rows = max(1, math.ceil(count / cols))
    fig = mpl.figure(
        cols * cell,
        rows * (cell + extra_h) + 0.85,
        left=0.02,
        right=0.98,
        bottom=0.02,
        top=1 - 0.85 / (rows * (cell + extra_h) + 0.85),
        wspace=0.08,
        hspace=0.45,
    )
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    return fig, axes


def _name(class_names: list[str], i: int) -> str:
    return class_names[i] if i < len(class_names) else str(i)


def draw_errors(
    images: np.ndarray,
    errors: list[dict],
    class_names: list[str],
    total: int,
    output: Path,
    where: str = "test set",
    heatmaps: np.ndarray | None = None,
    wrong_count: int | None = None,
) -> Path:
    """Up to 25 most confidently wrong images, each with its true and predicted class.

    Args:
        images: the errors' images, in the order of `errors` (`worst_errors`).
        total: the set's size, for the share of errors in the title.
        wrong_count: how many of the set are wrong (default: `len(errors)`).
        heatmaps: Grad-CAM heatmaps (0..1, the images' size) to lay over each error.
    """
    wrong = len(errors) if wrong_count is None else wrong_count
    head = f"{where}: {wrong} of {total} wrong ({wrong / max(1, total):.1%})"
    if not errors:
        fig = mpl.figure(6.0, 1.6, left=0.02, right=0.98, bottom=0.05, top=0.95)
        fig.text(0.5, 0.5, f"{head}: nothing to show", ha="center", va="center", fontsize=12)
        mpl.save(fig, output)
        return output
    fig, axes = _grid(len(errors))
    for k, (ax, e) in enumerate(zip(axes, errors, strict=False)):
        img, cmap = _shown(images[k])
        ax.imshow(img, cmap=cmap, interpolation="nearest")
        if heatmaps is not None:
            ax.imshow(
                heatmaps[k],
                cmap="jet",
                alpha=0.45,
                interpolation="bilinear",
                extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5),
            )
        ax.set_title(
            f"true {_name(class_names, e['true'])}\n"
            f"said {_name(class_names, e['predicted'])} {e['probability']:.0%}",
            fontsize=9.5,
            color="#b00020",
            loc="center",
            pad=3,
        )
    order = "most confident first" + (", Grad-CAM over each" if heatmaps is not None else "")
    fig.suptitle(
        f"{head}; the {len(errors)} most confidently wrong ({order})",
        fontsize=10,
        x=0.02,
        ha="left",
        color="0.2",
    )
    mpl.save(fig, output)
    return output


def draw_reliability(calib: dict, output: Path, where: str = "test set") -> Path:
    """Accuracy against confidence in 10 bins, each bin's mean confidence marked, the count
    per bin beneath, and the expected calibration error."""
    fig = mpl.figure(5.2, 5.6, left=0.15, right=0.96, bottom=0.1, top=0.86, hspace=0.1)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    bins = [b for b in calib["bins"] if b["count"]]
    width = calib["bins"][0]["high"] - calib["bins"][0]["low"]
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    top.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="calibrated")
    top.bar(
        centres,
        [b["accuracy"] for b in bins],
        width=width * 0.9,
        color="tab:blue",
        alpha=0.85,
        label="accuracy",
    )
    top.scatter(
        centres,
        [b["confidence"] for b in bins],
        marker="_",
        s=260,
        linewidths=2.2,
        color="tab:red",
        zorder=3,
        label="mean confidence",
    )
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy")
    top.legend(frameon=False, fontsize=8, loc="upper left")
    bottom.bar(centres, [b["count"] for b in bins], width=width * 0.9, color="0.6")
    for x, b in zip(centres, bins, strict=True):
        bottom.text(x, b["count"], str(b["count"]), ha="center", va="bottom", fontsize=7)
    bottom.set_ylabel("images")
    bottom.set_xlabel("confidence (the predicted class's probability)")
    bottom.set_xlim(0, 1)
    bottom.set_ylim(0, max([b["count"] for b in bins] or [1]) * 1.25)
    for ax in (top, bottom):
        ax.grid(True, color="0.92", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    over = (calib["mean_confidence"] or 0) - (calib["accuracy"] or 0)
    lean = "overconfident" if over > 0 else "underconfident"
    mpl.title(
        top,
        f"{where}: ECE {calib['ece']:.4f}, {lean} by {abs(over):.3f}\n"
        f"mean confidence {calib['mean_confidence']:.3f}, accuracy "
        f"{calib['accuracy']:.3f}",
        fontsize=10,
    )
    mpl.save(fig, output)
    return output


def draw_cam(
    images: np.ndarray,
    heatmaps: np.ndarray,
    captions: list[str],
    output: Path,
    title: str,
    wrong: list[bool] | None = None,
) -> Path:
    """Each image with its Grad-CAM heatmap laid over it, and a caption (red when `wrong`)."""
    fig, axes = _grid(len(images), extra_h=0.4)
    flags = wrong or [False] * len(images)
    for ax, img_raw, heat, text, bad in zip(axes, images, heatmaps, captions, flags, strict=False):
        img, cmap = _shown(img_raw)
        ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.imshow(
            heat,
            cmap="jet",
            alpha=0.45,
            interpolation="bilinear",
            extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5),
        )
        ax.set_title(text, fontsize=9, pad=3, color="#b00020" if bad else "0.1")
    fig.suptitle(title, fontsize=10, x=0.02, ha="left", color="0.2")
    mpl.save(fig, output)
    return output
