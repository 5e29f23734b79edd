"""Wall time of cnnrun's commands as a user runs them: a fresh process each time.

Usage:
    python benchmarks/bench_cli.py [--repeat 7] [--runs 50]

Times `--help`, `validate`, `schema`, and on a folder of 50 synthetic runs (written with the
functions training uses) `runs`, `plot`, `compare` and `report`, reporting min, median and
max and whether TensorFlow was imported. Then the start-up of training: from launching
`cnnrun train` to the end of its first training batch, against a plain Keras script that
imports TensorFlow, builds the same network by hand and trains one batch. Not a test:
timings on shared machines drift, so results go to benchmarks/RESULTS.md with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import sys, runpy; sys.argv = ['cnnrun', *sys.argv[1:]];\n"
    "try:\n    runpy.run_module('cnnrun', run_name='__main__')\n"
    "except SystemExit: pass\n"
    "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr)"
)
# The hand-written equivalent of the quick start's first batch: import, build, compile, train.
PLAIN = """
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
    keras.layers.BatchNormalization(),
    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Dropout(0.25),
    keras.layers.Flatten(),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
x = np.random.rand(32, 8, 8, 1).astype("float32"); y = np.random.randint(0, 10, 32)
model.train_on_batch(x, y)
print(time.time())
"""


def cpu() -> str:
    """The CPU model and the vector and matrix flags that decide TensorFlow's kernels."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")
    have = " ".join(f for f in wanted if f in flags) or "none of " + ", ".join(wanted)
    return f"{model}; flags: {have}"


def time_command(args: list[str], repeat: int) -> tuple[list[float], bool]:
    """Wall seconds of `cnnrun ARGS` in `repeat` fresh processes, and whether TF was imported."""
    times, tf = [], False
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True
        )
        times.append(time.perf_counter() - t)
        tf = tf or r.stderr.strip().splitlines()[-1] == "TF"
    return times, tf


def matplotlib_phase() -> str:
    """A plain `import matplotlib.figure` in a fresh process, three times: the machine's phase."""
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import matplotlib.figure"], check=True)
        times.append(time.perf_counter() - t)
    return ", ".join(f"{x:.2f}" for x in times) + " s"


def startup(repeat: int, tmp: Path) -> dict[str, list[float]]:
    """Seconds from launch to the end of the first training batch, cnnrun and plain Keras."""
    out: dict[str, list[float]] = {"cnnrun train": [], "plain Keras script": []}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for i in range(repeat):
        t = time.time()
        cmd = ["train", "configs/digits.yaml", "--set", "train.epochs=1", "--quiet"]
        subprocess.run(
            [sys.executable, "-m", "cnnrun", *cmd, "--runs-dir", str(tmp / f"r{i}")],
            cwd=ROOT,
            env=env,
            check=True,
        )
        (summary,) = (tmp / f"r{i}").glob("*/summary.json")
        done = json.loads(summary.read_text())["timings"]["first_batch_done_unix"]
        out["cnnrun train"].append(done - t)
        t = time.time()
        r = subprocess.run(
            [sys.executable, "-c", PLAIN], env=env, check=True, capture_output=True, text=True
        )
        out["plain Keras script"].append(float(r.stdout.split()[-1]) - t)
    return out


def _row(label: str, times: list[float], tf: bool | None = None) -> str:
    cells = f"{min(times):.3f} | {statistics.median(times):.3f} | {max(times):.3f}"
    return f"| `{label}` | {cells} |" + ("" if tf is None else f" {'yes' if tf else 'no'} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--startup-repeat", type=int, default=3)
    parser.add_argument(
        "--only", default="", help="comma-separated words: time only commands containing one"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))  # the synthetic-run fixture lives with the tests
    from support.synthetic import make_run

    tmp = Path(tempfile.mkdtemp())
    made = [make_run(tmp / "runs", i, overfit=i % 3 == 0) for i in range(args.runs)]
    a, b = str(made[0]), str(made[1])
    commands = {
        "cnnrun --help": ["--help"],
        "cnnrun validate configs/digits.yaml": ["validate", "configs/digits.yaml"],
        "cnnrun validate configs/mnist5k.yaml": ["validate", "configs/mnist5k.yaml"],
        "cnnrun schema": ["schema"],
        f"cnnrun runs ({args.runs} runs)": ["runs", str(tmp / "runs")],
        "cnnrun plot RUN (two PNGs)": ["plot", a],
        "cnnrun plot RUN_A RUN_B -o overlay.png": ["plot", a, b, "-o", str(tmp / "o.png")],
        "cnnrun compare RUN_A RUN_B": ["compare", a, b, "-o", str(tmp / "c.png")],
        "cnnrun report RUN": ["report", a],
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu()}), Python "
        f"{platform.python_version()}; a fresh process per call, {args.repeat} calls each"
    )
    print(f"plain `import matplotlib.figure` before: {matplotlib_phase()}")
    print("| command | min (s) | median (s) | max (s) | TensorFlow imported |")
    print("|---|---|---|---|---|")
    words = [w for w in args.only.split(",") if w]
    for label, argv in commands.items():
        if words and not any(w in label for w in words):
            continue
        times, tf = time_command(argv, args.repeat)
        print(_row(label, times, tf), flush=True)
    print(f"plain `import matplotlib.figure` after: {matplotlib_phase()}")
    if words:
        return
    print("\nfrom launch to the end of the first training batch (digits network):")
    print("| | min (s) | median (s) | max (s) |")
    print("|---|---|---|---|")
    for label, times in startup(args.startup_repeat, tmp).items():
        print(_row(label, times))


if __name__ == "__main__":
    main()
