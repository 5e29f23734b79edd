"""Transfer learning, measured on data this machine has: a MobileNetV3Small pretrained on one
task, fine-tuned on another with little data, against the same network from scratch, and
with its batchnorms in inference against training mode.

Usage:
    python benchmarks/bench_transfer.py [--seeds 3] [--per-class 50] [--folder DIR]
        [--head-lr 1e-3] [--only scratch,pretrained]

No ImageNet weights can be downloaded here, so the pretraining is local: the built-in mnist5k
digits 0-4 (about 2,000 images, upscaled to 32x32, the grey channel repeated into RGB with
`grey_to_rgb`) train MobileNetV3Small (`weights: none`) once; its run's weights file is the
pretrained backbone. The target task is digits 5-9 with `--per-class` training images a class
(a manifest with a `split` column; mnist5k's fixed test images of 5-9 are the test set).
Three variants, each at `--seeds` seeds, test accuracy at the best epoch:

- scratch: `weights: none`, everything trains, 15 epochs at 1e-3;
- pretrained: the backbone from the pretraining run, `train.phases` head 5 epochs at 1e-3
  (`--head-lr`), then all 10 epochs at 1e-4, batchnorms in inference mode (the default);
- pretrained, batchnorm train: the same with `batchnorm: train`.

Welch's t-test between each pair, as `cnnrun sweep` computes it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import cpu

from cnnrun.analysis.stats import mean_std, welch
from cnnrun.config.schema import DataConfig
from cnnrun.data.sources import load_dataset

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

HEAD = """\
    - globalavgpool2d
    - dropout: 0.2
    - dense: {units: 5, activation: softmax}
"""


def write_tasks(folder: Path, per_class: int) -> tuple[Path, Path]:
    """Digits 0-4 as a class-folder tree (pretraining) and 5-9 as a small manifest."""
    ds, _ = load_dataset(DataConfig(source="mnist5k"), ROOT)
    rng = np.random.default_rng(0)
    rows = ["path,label,split"]
    for split, x, y in (("train", ds.x, ds.y), ("test", ds.x_test, ds.y_test)):
        for digit in range(10):
            index = np.flatnonzero(y == digit)
            if digit >= 5 and split == "train":
                index = rng.choice(index, per_class, replace=False)
            for i in index:
                if digit < 5 and split == "test":
                    continue
                task = "pretrain" if digit < 5 else "target"
                path = Path(task) / split / str(digit) / f"{i:05d}.png"
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(x[i][..., 0]).save(folder / path)
                if task == "target":
                    rows.append(f"{path},{digit},{split}")
    (folder / "target.csv").write_text("\n".join(rows) + "\n")
    return folder / "pretrain" / "train", folder / "target.csv"


def train(config: str, work: Path, *sets: str) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    path = work / "c.yaml"
    path.write_text(config)
    args = [sys.executable, "-m", "cnnrun", "train", str(path), "--runs-dir", str(work / "runs")]
    args += ["--json", *[x for s in sets for x in ("--set", s)]]
    r = subprocess.run(args, capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--folder", type=Path, default=None)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--only", default="", help="variants to run, comma-separated")
    a = ap.parse_args()
    print(f"machine: {cpu()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.folder or Path(tmp)
        pretrain_dir, target = write_tasks(folder, a.per_class)
        data = "image_size: 32, channels: 1"
        pre = train(
            f"seed: 1\ndata: {{source: images, path: {pretrain_dir}, {data}}}\n"
            "model:\n  layers:\n    - application: {name: MobileNetV3Small, weights: none, "
            f"trainable: true, grey_to_rgb: true}}\n{HEAD}"
            "train: {epochs: 10, batch_size: 32, precision: float32}\n",
            folder / "pretrain-run",
        )
        weights = Path(pre["run_dir"]) / "best.weights.h5"
        best = json.loads((Path(pre["run_dir"]) / "summary.json").read_text())["best_metrics"]
        print(f"pretrained on digits 0-4: validation accuracy {best['val_accuracy']:.4f}")
        base = f"data: {{source: csv, path: {target}, {data}}}\nmodel:\n  layers:\n"
        phases = (
            "train:\n  batch_size: 32\n  precision: float32\n  phases:\n"
            f"    - {{epochs: 5, trainable: head, learning_rate: {a.head_lr}}}\n"
            "    - {epochs: 10, trainable: all, learning_rate: 1.0e-4}\n"
        )
        variants = {
            "scratch": base
            + "    - application: {name: MobileNetV3Small, weights: none, trainable: true, "
            "grey_to_rgb: true}\n"
            + HEAD
            + "train: {epochs: 15, batch_size: 32, precision: float32}\n",
            "pretrained": base
            + f"    - application: {{name: MobileNetV3Small, weights: {weights}, "
            "grey_to_rgb: true}\n" + HEAD + phases,
            "pretrained, batchnorm train": base
            + f"    - application: {{name: MobileNetV3Small, weights: {weights}, "
            "grey_to_rgb: true, batchnorm: train}\n" + HEAD + phases,
        }
        scores: dict[str, list[float]] = {}
        keep = [v for v in a.only.split(",") if v]
        for name, config in variants.items():
            if keep and name not in keep:
                continue
            scores[name] = []
            for seed in range(1, a.seeds + 1):
                s = train(config, folder / "runs" / name.replace(" ", "-"), f"seed={seed}")
                scores[name].append(float(s["test"]["test_accuracy"]))
                print(f"  {name} seed {seed}: {scores[name][-1]:.4f}", flush=True)
    print(f"digits 5-9, {a.per_class} training images a class, test accuracy:")
    for name, values in scores.items():
        m, sd = mean_std(values)
        print(f"  {name:28s} {m:.4f} +- {sd:.4f}  ({', '.join(f'{v:.4f}' for v in values)})")
    names = list(scores)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            t = welch(scores[x], scores[y])
            print(f"  {x} vs {y}: t = {t.t:.2f}, p = {t.p:.4f}")


if __name__ == "__main__":
    main()
