"""The built-in mnist5k written out as PNG files and trained streamed from them, against the
built-in source itself: the same test accuracy within seed noise?

Usage:
    python benchmarks/bench_mnist_png.py [--seeds 3] [--folder DIR]

Writes mnist5k's 4,000 training and 1,000 test images as PNG files and a manifest CSV with a
`split` column (train or test: the built-in test split, held out the same way), then runs
`cnnrun sweep configs/mnist5k.yaml --seeds N` twice: once on `source: mnist5k`, once on
`source: csv` with `cache: none` (every epoch decoded from the files). Prints each run's test
accuracy, the mean and spread per source, and Welch's t-test between them (as `cnnrun sweep`
computes it). Not a test: results go to benchmarks/RESULTS.md with the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import cpu

from cnnrun.analysis.stats import mean_std, welch
from cnnrun.data.sources import load_dataset

ROOT = Path(__file__).resolve().parent.parent


def write_pngs(folder: Path) -> Path:
    """mnist5k as PNG files under `folder`, and `labels.csv` naming them with their split."""
    from cnnrun.config.schema import DataConfig

    ds, _ = load_dataset(DataConfig(source="mnist5k"), ROOT)
    rows = ["path,label,split"]
    for split, x, y in (("train", ds.x, ds.y), ("test", ds.x_test, ds.y_test)):
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            name = ds.class_names[int(label)]
            path = Path(split) / name / f"{i:05d}.png"
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[..., 0]).save(folder / path)
            rows.append(f"{path},{name},{split}")
    manifest = folder / "labels.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def sweep(seeds: int, runs: Path, *sets: str) -> list[float]:
    """Test accuracies of `cnnrun sweep configs/mnist5k.yaml --seeds N --set ...`."""
    args = [sys.executable, "-m", "cnnrun", "sweep", str(ROOT / "configs" / "mnist5k.yaml")]
    args += ["--seeds", str(seeds), "--runs-dir", str(runs), "--json"]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    sweep_dir = Path(json.loads(out)["sweep_dir"])
    accuracies = []
    for summary in sorted(sweep_dir.glob("*/summary.json")):
        s = json.loads(summary.read_text())
        accuracies.append(float(s["test"]["test_accuracy"]))
    return accuracies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--folder", type=Path, default=None)
    a = ap.parse_args()
    print(f"machine: {cpu()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.folder or Path(tmp) / "mnist5k-png"
        manifest = write_pngs(folder)
        built_in = sweep(a.seeds, Path(tmp) / "runs")
        png = sweep(
            a.seeds,
            Path(tmp) / "runs",
            "data.source=csv",
            f"data.path={manifest}",
            "data.cache=none",
        )
    for name, values in (("built-in mnist5k", built_in), ("PNG files, streamed", png)):
        m, s = mean_std(values)
        shown = ", ".join(f"{v:.4f}" for v in values)
        print(f"  {name:20s} test accuracy {m:.4f} +- {s:.4f}  ({shown})")
    t = welch(built_in, png)
    print(f"  Welch's t-test: t = {t.t:.3f}, p = {t.p:.3f}")


if __name__ == "__main__":
    main()
