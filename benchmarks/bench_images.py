"""Photo folders: `cnnrun train` on a folder of JPEGs against the same network written by hand
with `keras.utils.image_dataset_from_directory`, whole processes, alternated A B A B.

Usage:
    python benchmarks/bench_images.py [--sizes 4000,40000] [--repeat 3] [--epochs 2]
        [--folder DIR] [--precision float32] [--photo-size 160] [--pipelines]

The script writes synthetic JPEG folders (shapes on noise, 4 classes, RGB, quality 90, at
--photo-size pixels a side, 160 by default, or WxH for photos of another shape; reused from
--folder when already there), then for each size runs, alternated:

A (cnnrun): `cnnrun train CONFIG` with `source: images` and the config's defaults
    (`data.cache: auto`, streamed from the files when the decoded set is over 512 MiB).
B (by hand): `image_dataset_from_directory(validation_split=0.2, subset="both")`, a
    `Rescaling(1/255)` map, `prefetch(AUTOTUNE)`, `fit` with a `ModelCheckpoint` that keeps
    the best epoch's weights: what the Keras tutorials write.

Both train the same network (three strided convolutions, global pooling, a dense softmax)
on 160x160 inputs (larger photos resized: cnnrun with its defaults, Keras's loader with its
own), batch 32, at the same precision, on 80% of the images, validating on 20%. Reported per
process: wall seconds from launch to exit, peak RSS (from `wait4`), and training images per
second over the last epoch (from the epoch's own seconds). Separately, in this process, the
input pipelines alone: images per second each delivers with no model behind it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import cpu

ROOT = Path(__file__).resolve().parent.parent
SIZE = 160
CLASSES = ("circle", "square", "triangle", "cross")

LAYERS = """\
    - conv2d: {filters: 16, kernel_size: 3, strides: 2, activation: relu, padding: same}
    - conv2d: {filters: 32, kernel_size: 3, strides: 2, activation: relu, padding: same}
    - conv2d: {filters: 64, kernel_size: 3, strides: 2, activation: relu, padding: same}
    - globalavgpool2d: {}
    - dense: {units: 4, activation: softmax}
"""

HAND = """\
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras, tensorflow as tf
folder, epochs, precision, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
keras.mixed_precision.set_global_policy(precision)
keras.utils.set_random_seed(1)
train, val = keras.utils.image_dataset_from_directory(
    folder, validation_split=0.2, subset="both", seed=1, image_size=(160, 160), batch_size=32)
n_train = len(train.file_paths)
scale = keras.layers.Rescaling(1 / 255)
train = train.map(lambda x, y: (scale(x), y), num_parallel_calls=tf.data.AUTOTUNE)
val = val.map(lambda x, y: (scale(x), y), num_parallel_calls=tf.data.AUTOTUNE)
train, val = train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)
model = keras.Sequential([
    keras.Input((160, 160, 3)),
    keras.layers.Conv2D(16, 3, strides=2, activation="relu", padding="same"),
    keras.layers.Conv2D(32, 3, strides=2, activation="relu", padding="same"),
    keras.layers.Conv2D(64, 3, strides=2, activation="relu", padding="same"),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(4, activation="softmax", dtype="float32"),
])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, e, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, e, logs=None): self.last = time.perf_counter() - self.t
timer = Timer()
best = keras.callbacks.ModelCheckpoint(
    os.path.join(out, "best.weights.h5"), save_best_only=True, save_weights_only=True)
h = model.fit(train, validation_data=val, epochs=epochs, callbacks=[best, timer], verbose=0)
n = n_train  # counted from the listing: no second pass over the files
print(json.dumps({"epoch_seconds": timer.last, "train_images": n,
                  "val_accuracy": h.history["val_accuracy"][-1]}))
"""


def make_folder(root: Path, n: int, size: tuple[int, int], seed: int = 0) -> Path:
    """`n` RGB JPEGs (width, height) in 4 class folders: a shape in a random colour on noise."""
    marker = root / f".complete-{n}"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
    w, h = size
    k = min(w, h) / SIZE  # the shapes scale with the picture
    for i in range(n):
        label = i % len(CLASSES)
        noise = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
        im = Image.fromarray(noise)
        draw = ImageDraw.Draw(im)
        cx = int(rng.integers(40, 120) * w / SIZE)
        cy = int(rng.integers(40, 120) * h / SIZE)
        r = int(rng.integers(18, 38) * k)
        colour = tuple(int(c) for c in rng.integers(130, 256, 3))
        box = (cx - r, cy - r, cx + r, cy + r)
        if label == 0:
            draw.ellipse(box, fill=colour)
        elif label == 1:
            draw.rectangle(box, fill=colour)
        elif label == 2:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
        else:
            draw.rectangle((cx - r, cy - r // 4, cx + r, cy + r // 4), fill=colour)
            draw.rectangle((cx - r // 4, cy - r, cx + r // 4, cy + r), fill=colour)
        im.save(root / CLASSES[label] / f"{i:06d}.jpg", quality=90)
    marker.touch()
    return root


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB, this process alone: `wait4`) and stdout of one process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(args, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise SystemExit(f"{args[:4]} failed ({p.returncode}):\n{err.read()[-3000:]}")
        return wall, usage.ru_maxrss / 1024, out.read()


def cnnrun_once(folder: Path, epochs: int, precision: str, work: Path) -> dict:
    cfg = work / "photos.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""\
            name: photos
            seed: 1
            data: {{source: images, path: {folder}, image_size: 160, channels: 3}}
            model:
              layers:
            """
        )
        + LAYERS
        + f"train: {{epochs: {epochs}, batch_size: 32, precision: {precision}}}\n"
    )
    runs = work / "runs"
    args = [sys.executable, "-m", "cnnrun", "train", str(cfg), "--runs-dir", str(runs), "--json"]
    wall, peak, out = run(args, os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
    import json

    summary = json.loads(out)
    run_dir = Path(summary["run_dir"])
    rows = (run_dir / "history.csv").read_text().splitlines()
    head = rows[0].split(",")
    last = dict(zip(head, rows[-1].split(","), strict=True))
    n = summary["data"]["counts"]["train"]
    shutil.rmtree(runs)
    return {
        "wall": wall,
        "peak": peak,
        "train_ips": n / float(last["seconds"]),
        "cache": (summary["data"].get("cache") or {}).get("mode"),
        "val_accuracy": float(last["val_accuracy"]),
    }


def hand_once(folder: Path, epochs: int, precision: str, work: Path) -> dict:
    script = work / "hand.py"
    script.write_text(HAND)
    out_dir = work / "hand"
    out_dir.mkdir(exist_ok=True)
    args = [sys.executable, str(script), str(folder), str(epochs), precision, str(out_dir)]
    wall, peak, out = run(args, os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
    import json

    r = json.loads(out.strip().splitlines()[-1])
    return {
        "wall": wall,
        "peak": peak,
        "train_ips": r["train_images"] / r["epoch_seconds"],
        "val_accuracy": r["val_accuracy"],
    }


def pipelines_alone(folder: Path, batches: int = 60) -> dict[str, float]:
    """Images/s each input pipeline delivers with no model: cnnrun streamed (cache none) and
    cached in memory, and Keras's loader."""
    import keras
    import tensorflow as tf

    from cnnrun.config.schema import DataConfig
    from cnnrun.data.sources import load_dataset
    from cnnrun.data.splits import split_dataset
    from cnnrun.engine.decode import decoded_splits
    from cnnrun.engine.pipeline import pipeline

    cfg = DataConfig(source="images", path=str(folder), image_size=SIZE, channels=3)
    ds, cfg = load_dataset(cfg, Path("."))
    splits = decoded_splits(split_dataset(ds, cfg, 1))

    def rate(stream: tf.data.Dataset) -> float:
        it = iter(stream)
        next(it)
        t0 = time.perf_counter()
        n = sum(int(next(it)[0].shape[0]) for _ in range(batches))
        return n / (time.perf_counter() - t0)

    def ours(mode: str) -> float:
        s = splits.cached(mode, None)
        kw = {"loss": "sparse_categorical_crossentropy", "num_classes": 4}
        return rate(pipeline(s.x_train, s.y_train, s.scale, 32, shuffle_seed=1, epochs=2, **kw))

    hand = keras.utils.image_dataset_from_directory(
        str(folder), image_size=(SIZE, SIZE), batch_size=32, seed=1, verbose=False
    )
    scale = keras.layers.Rescaling(1 / 255)
    hand = hand.map(lambda x, y: (scale(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return {
        "cnnrun streamed": ours("none"),
        "keras loader": rate(hand.repeat().prefetch(tf.data.AUTOTUNE)),
    }


def report(name: str, rows: list[dict]) -> None:
    def med(key: str) -> str:
        values = [r[key] for r in rows]
        return f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})"

    line = f"wall s {med('wall')}  peak MB {med('peak')}  train img/s {med('train_ips')}"
    print(f"  {name:8s} {line}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4000,40000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--precision", default="float32")
    ap.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "cnnrun-photos")
    ap.add_argument("--pipelines", action="store_true", help="also time the pipelines alone")
    ap.add_argument("--photo-size", default="160", help="the photos' size: N or WxH")
    a = ap.parse_args()
    print(f"machine: {cpu()}; {os.cpu_count()} cores")
    w, _, h = a.photo_size.partition("x")
    size = (int(w), int(h or w))
    for n in [int(s) for s in a.sizes.split(",")]:
        t0 = time.perf_counter()
        folder = make_folder(a.folder / f"{n}-{size[0]}x{size[1]}", n, size)
        took = time.perf_counter() - t0
        print(f"{n} images {size[0]}x{size[1]} RGB JPEG in {folder} ({took:.0f} s)")
        ours, hand = [], []
        for _ in range(a.repeat):
            with tempfile.TemporaryDirectory() as w:
                ours.append(cnnrun_once(folder, a.epochs, a.precision, Path(w)))
            with tempfile.TemporaryDirectory() as w:
                hand.append(hand_once(folder, a.epochs, a.precision, Path(w)))
            print(
                f"    cnnrun {ours[-1]['wall']:.1f} s, by hand {hand[-1]['wall']:.1f} s, "
                f"cache {ours[-1]['cache']}, val_accuracy {ours[-1]['val_accuracy']:.3f} / "
                f"{hand[-1]['val_accuracy']:.3f}",
                flush=True,
            )
        print(f"  {a.epochs} epochs at {a.precision}, {a.repeat} alternated runs: median (min-max)")
        report("cnnrun", ours)
        report("by hand", hand)
        ratio = statistics.median(h["wall"] for h in hand) / statistics.median(
            o["wall"] for o in ours
        )
        print(f"  wall-time ratio hand / cnnrun: {ratio:.2f}")
        if a.pipelines:
            for k, v in pipelines_alone(folder).items():
                print(f"  pipeline alone, {k}: {v:,.0f} images/s")


if __name__ == "__main__":
    main()
