"""The Dropout/BatchNorm ablation with both batchnorm-statistics modes, one panel per placement.

Usage:
    cnnrun sweep configs/ablation-dropout-bn.yaml --grid train.batchnorm_stats=moving,precise
    python benchmarks/plot_ablation.py SWEEP_DIR -o docs/ablation-precise.png

Reads each run's `summary.json` (its variant and its `batchnorm.stats`) and `history.csv`, and
draws per placement the validation loss, mean and +-1 std over seeds, with the moving
averages (dashed) against recomputed statistics (solid). Not a test: the figure goes to docs/.
"""

from __future__ import annotations

import argparse
import csv
import json
import textwrap
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

PLACEMENTS = ["none", "dropout", "batchnorm", "dropout-after-bn", "dropout-before-bn"]
STYLE = {"moving": ("#888888", "--"), "precise": ("#1f77b4", "-")}


def curves(sweep_dir: Path) -> dict[tuple[str, str], list[np.ndarray]]:
    """(placement, mode) -> the validation-loss curve of every seed."""
    out: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    for summary in sorted(sweep_dir.glob("*/summary.json")):
        s = json.loads(summary.read_text())
        name = s["name"]
        placement = max((p for p in PLACEMENTS if name.startswith(p + "_")), key=len)
        mode = (s.get("batchnorm") or {}).get("stats", "moving")
        with open(summary.parent / "history.csv", newline="") as f:
            val = [float(row["val_loss"]) for row in csv.DictReader(f)]
        out[placement, mode].append(np.array(val))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("ablation-precise.png"))
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    data = curves(args.sweep_dir)
    shown = [p for p in PLACEMENTS if any(key[0] == p for key in data)]
    fig, axes = plt.subplots(1, len(shown), figsize=(3 * len(shown), 3.4), sharey=True)
    for ax, placement in zip(np.atleast_1d(axes), shown, strict=True):
        for mode, (colour, dash) in STYLE.items():
            runs = data.get((placement, mode))
            if not runs:
                continue
            stack = np.stack(runs)
            mean, std = stack.mean(0), stack.std(0, ddof=1) if len(runs) > 1 else 0 * stack[0]
            epochs = np.arange(1, len(mean) + 1)
            label = f"{mode} (n={len(runs)}), last {mean[-1]:.3f}"
            ax.plot(epochs, mean, dash, color=colour, lw=2, label=label)
            ax.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.15, lw=0)
        ax.set_title(placement, fontsize=11, loc="left", fontweight="bold")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.grid(True, which="both", alpha=0.25)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=8, frameon=False, loc="upper right")
    np.atleast_1d(axes)[0].set_ylabel("validation loss")
    title = (
        "Validation loss, mean and +-1 std over seeds: moving averages (dashed) against "
        f"statistics recomputed at test time (solid){args.title}"
    )
    fig.suptitle(textwrap.fill(title, 34 * len(shown)), fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
