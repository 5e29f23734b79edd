"""Training speed: cnnrun's own training path against the hand-written Keras workflow it
replaces, alternated A B A B in one process so machine drift hits both alike.

Usage:
    python benchmarks/bench_train.py [--repeat 5] [--epochs 5] [--profile] [--configs A,B]
    python benchmarks/bench_train.py --configs backbone-frozen,backbone-open --repeat 3

`backbone-frozen` and `backbone-open` are written here: a MobileNetV3Small backbone
(`weights: none`, batchnorms in inference mode as with pretrained weights) at 96x96 RGB with
a pooled dense head, frozen or training, on 2,000 of the mnist5k digits upscaled into an
`.npz` (no ImageNet weights can be downloaded on this project's machines; the arithmetic is
the same).

A (cnnrun): `prepare.prepare` + `training.run` into a temporary run folder, with its
defaults (precise batchnorm statistics: one forward pass over a sample before each
validation) and again with `batchnorm_stats: moving`, the work the hand-written script
does: the tf.data pipeline, per-epoch history, summary, last weights, best weights on
improvement, curves.
B (hand-written): the same model built from the same config, `model.fit(x, y,
validation_split=0.2, callbacks=[ModelCheckpoint(..., save_best_only=True)])` on NumPy
arrays scaled to [0, 1]. Both train on the same training images (the source's own test split
held out) and validate on 20% of them. A trains at cnnrun's default precision (`auto`: see
docs/precision.md); B in float32, and, where `auto` picks a mixed policy, B again with that
policy, so cnnrun is compared with the same arithmetic too. Reported: training samples per
second over the median epoch, measured from one epoch's start to the next (validation,
checkpoint writes and every callback included), the first epoch (graph tracing) left out.

FLOPs: each epoch costs (3 * training samples + validation samples) * 2 * the forward
multiply-adds per sample that `cnnrun validate` reports (a training step is a forward pass
and a backward pass of about twice its cost). That over the epoch time is the achieved
GFLOP/s, printed next to this machine's float32 matrix-multiply rate (2048x2048
`tf.linalg.matmul`), measured in the same process. `--profile` also times, on the mnist5k
network, one compiled training step without any input pipeline or callback, the forward
pass alone, and each layer's forward pass: where an epoch's time goes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

from cnnrun.config.load import load_config
from cnnrun.data.sources import load_dataset
from cnnrun.engine import prepare, recorder, training
from cnnrun.engine.model import build_model
from cnnrun.engine.precision import resolve as resolve_precision
from cnnrun.plan import make_plan
from cnnrun.runs.events import NullReporter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import cpu  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Epoch start times: an epoch lasts until the next one starts, checkpoint writes and
    every other callback included, for both paths alike."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.starts.append(time.perf_counter())

    @property
    def times(self) -> list[float]:
        return [b - a for a, b in zip(self.starts, self.starts[1:], strict=False)]


# cnnrun's own work at each epoch end (checkpoints, history, summary), seconds per epoch.
OVERHEAD: list[float] = []


def cnnrun_epochs(plan, tmp: Path) -> tuple[list[float], int]:
    timer = EpochTimer()
    original = recorder.Recorder.on_epoch_begin
    original_end = recorder.Recorder.on_epoch_end

    def timed(self, epoch, logs=None):
        timer.on_epoch_begin(epoch)
        return original(self, epoch, logs)

    def timed_end(self, epoch, logs=None):
        t = time.perf_counter()
        original_end(self, epoch, logs)
        if epoch > 0:
            OVERHEAD.append(time.perf_counter() - t)

    recorder.Recorder.on_epoch_begin = timed
    recorder.Recorder.on_epoch_end = timed_end
    try:
        prep = prepare.prepare(plan)
        summary = training.run(prep, tmp / "runs", NullReporter())
    finally:
        recorder.Recorder.on_epoch_begin = original
        recorder.Recorder.on_epoch_end = original_end
    return timer.times, summary.data.counts["train"]


def _moving(plan):
    """The plan with validation on batchnorm's moving averages, as a hand-written script."""
    train = plan.config.train.model_copy(update={"batchnorm_stats": "moving"})
    return replace(plan, config=plan.config.model_copy(update={"train": train}))


def keras_epochs(plan, tmp: Path, policy: str = "float32") -> tuple[list[float], int]:
    cfg = plan.config
    keras.utils.set_random_seed(cfg.seed)
    ds, _ = load_dataset(cfg.data, ROOT)
    x = ds.x.astype(np.float32) * ds.scale
    n_train = int(len(x) * (1 - cfg.data.validation_split))
    per_epoch = -(-n_train // cfg.train.batch_size)
    # the same network as a hand-written script would build it, with the same Keras policy
    model = build_model(cfg, steps_per_epoch=per_epoch, precision=policy)
    timer = EpochTimer()
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp / "weights.weights.h5"),
        monitor="val_loss",
        save_best_only=True,
        save_weights_only=True,
    )
    model.fit(
        x,
        ds.y,
        epochs=cfg.train.epochs,
        batch_size=cfg.train.batch_size,
        validation_split=cfg.data.validation_split,
        callbacks=[checkpoint, timer],
        verbose=0,
    )
    return timer.times, int(len(x) * (1 - cfg.data.validation_split))


def _best_seconds(fn, repeat: int = 7) -> float:
    """Median seconds of `fn()` after one warm-up call; `fn` returns a tensor to wait on."""
    fn().numpy()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn().numpy()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_gflops(n: int = 2048, dtype: str = "float32") -> float:
    """This machine's matrix-multiply rate in `dtype`: the practical peak for dense math."""
    a = tf.cast(tf.random.uniform((n, n)), dtype)
    b = tf.cast(tf.random.uniform((n, n)), dtype)
    return 2 * n**3 / _best_seconds(lambda: tf.linalg.matmul(a, b)) / 1e9


def profile(plan, peak: float) -> None:
    """Where the time of one training step goes, without pipeline or callbacks."""
    cfg = plan.config
    bs = cfg.train.batch_size
    model = build_model(cfg)
    x = tf.random.uniform((bs, *plan.table.input_shape))
    y = tf.random.uniform((bs,), maxval=len(plan.class_names), dtype=tf.int32)
    model.make_train_function()
    train_fn = model.train_function
    data = [(x, y)]
    step = _best_seconds(lambda: train_fn(iter(data))["loss"], 15)
    forward = tf.function(lambda t: model(t, training=False))
    fwd = _best_seconds(lambda: forward(x), 15)
    macs = plan.table.total_macs
    print(f"  profile, batch {bs}, median of 15 calls:")
    gflops = 3 * 2 * macs * bs / step / 1e9
    print(
        f"    training step {step * 1e3:6.1f} ms = {bs / step:6.0f} samples/s, "
        f"{gflops:5.1f} GFLOP/s ({gflops / peak:.0%} of matmul)"
    )
    print(
        f"    forward only  {fwd * 1e3:6.1f} ms, {2 * macs * bs / fwd / 1e9:5.1f} GFLOP/s; "
        f"backward and update {(step - fwd) * 1e3:.1f} ms ({(step - fwd) / fwd:.1f}x the forward)"
    )
    t = x
    for layer, row in zip(model.layers, plan.table.rows, strict=False):
        fn = tf.function(lambda inp, layer=layer: layer(inp, training=False))
        sec = _best_seconds(lambda fn=fn, t=t: fn(t), 15)
        rate = f"{2 * row.macs * bs / sec / 1e9:5.1f} GFLOP/s" if row.macs else ""
        print(f"    {layer.name:14s} forward {sec * 1e3:6.2f} ms ({sec / fwd:4.0%}) {rate}")
        t = layer(t, training=False)


BACKBONE = """\
name: {name}
seed: 42
data: {{source: npz, path: {npz}, validation_split: 0.2}}
model:
  layers:
    - application:
        {{name: MobileNetV3Small, weights: none, trainable: {open}, batchnorm: inference}}
    - globalavgpool2d
    - dropout: 0.2
    - dense: {{units: 10, activation: softmax}}
train: {{epochs: 5, batch_size: 32, optimizer: {{name: adam, learning_rate: 0.001}}}}
checkpoint: {{monitor: val_loss}}
"""


def backbone_configs(folder: Path) -> dict[str, Path]:
    """The backbone workloads' configs, on 2,000 mnist5k digits as 96x96 RGB in an .npz."""
    from PIL import Image

    from cnnrun.config.schema import DataConfig

    ds, _ = load_dataset(DataConfig(source="mnist5k"), ROOT)
    pick = np.random.default_rng(0).choice(len(ds.y), 2000, replace=False)
    big = [np.asarray(Image.fromarray(ds.x[i, ..., 0]).resize((96, 96))) for i in pick]
    x = np.repeat(np.stack(big)[..., None], 3, axis=-1)
    npz = folder / "digits96.npz"
    np.savez(npz, x=x, y=ds.y[pick])
    out = {}
    for name, trainable in (("backbone-frozen", "false"), ("backbone-open", "true")):
        out[name] = folder / f"{name}.yaml"
        out[name].write_text(BACKBONE.format(name=name, npz=npz, open=trainable))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--configs", default="digits.yaml,mnist5k.yaml,resnet-mnist5k.yaml")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu()}), Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    policy, reason = resolve_precision("auto", "none")
    print(f"cnnrun's default precision here: {policy} ({reason})")
    peak = matmul_gflops()
    print(f"float32 matmul 2048x2048: {peak:.1f} GFLOP/s")
    compute = policy.removeprefix("mixed_")
    peaks = {"float32": peak, policy: peak}
    if compute != "float32":
        peaks[policy] = matmul_gflops(dtype=compute)
        print(f"{compute} matmul 2048x2048: {peaks[policy]:.1f} GFLOP/s")
    paths = {
        "cnnrun": (cnnrun_epochs, policy),
        # the same work as the hand-written script: validation on the moving averages
        "cnnrun moving": (lambda p, t: cnnrun_epochs(_moving(p), t), policy),
        "keras": (keras_epochs, "float32"),
    }
    if policy != "float32":
        paths[f"keras {policy}"] = (lambda p, t: keras_epochs(p, t, policy), policy)
    work = Path(tempfile.mkdtemp())
    written = backbone_configs(work) if "backbone" in args.configs else {}
    for config in args.configs.split(","):
        path = written.get(config, ROOT / "configs" / config)
        plan = make_plan(load_config(path, [f"train.epochs={args.epochs}", "early_stopping=null"]))
        OVERHEAD.clear()
        epochs_seen: list[float] = []
        rates: dict[str, list[float]] = {name: [] for name in paths}
        flops: dict[str, list[float]] = {name: [] for name in paths}
        macs = plan.table.total_macs
        split = plan.config.data.validation_split
        for _ in range(args.repeat):
            for name, (fn, _policy) in paths.items():
                with tempfile.TemporaryDirectory() as tmp:
                    seconds, n = fn(plan, Path(tmp))
                epoch = statistics.median(seconds[1:])  # epoch 1 traces the graph
                if name == "cnnrun":
                    epochs_seen += seconds[1:]
                rates[name].append(n / epoch)
                n_val = n * split / (1 - split)
                flops[name].append((3 * n + n_val) * 2 * macs / epoch / 1e9)
        ratio = statistics.median(
            a / b for a, b in zip(rates["cnnrun"], rates["keras"], strict=True)
        )
        print(
            f"{config}: {plan.table.total_params:,} parameters, {2 * macs / 1e6:.2f} MFLOP "
            f"forward per sample, batch {plan.config.train.batch_size}, "
            f"{args.epochs} epochs x {args.repeat}"
        )
        for name, r in rates.items():
            runs = ", ".join(f"{v:.0f}" for v in r)
            g, top = flops[name], peaks[paths[name][1]]
            print(
                f"  {name:7s} ({paths[name][1]}) train samples/s min {min(r):.0f} median "
                f"{statistics.median(r):.0f} max {max(r):.0f} ({runs}); "
                f"{statistics.median(g):.2f} GFLOP/s = {statistics.median(g) / top:.1%} of "
                "its matmul"
            )
        print(f"  median ratio cnnrun / hand-written float32: {ratio:.2f}")
        same_work = statistics.median(
            a / b for a, b in zip(rates["cnnrun moving"], rates["keras"], strict=True)
        )
        print(f"  median ratio cnnrun with batchnorm_stats: moving / hand-written: {same_work:.2f}")
        if policy != "float32":
            same = statistics.median(
                a / b for a, b in zip(rates["cnnrun"], rates[f"keras {policy}"], strict=True)
            )
            print(f"  median ratio cnnrun / hand-written {policy}: {same:.2f}")
        share = statistics.median(OVERHEAD) / statistics.median(epochs_seen)
        print(
            f"  cnnrun's own epoch-end work (history, summary, last and best weights): median "
            f"{statistics.median(OVERHEAD) * 1e3:.1f} ms = {share:.1%} of the median epoch"
        )
        if args.profile and config == "mnist5k.yaml":
            profile(plan, peak)


if __name__ == "__main__":
    main()
