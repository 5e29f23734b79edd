"""Wall time of `plot`, `runs`, `compare` and `report` on a folder of 50 runs, each a fresh
process as a user runs it, and whether TensorFlow was imported.

Usage:
    python benchmarks/bench_runs.py [--runs 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnrun.synthetic import make_run

PROBE = (
    "import sys, runpy; sys.argv = ['cnnrun', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('cnnrun', run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code\n"
    "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr)"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    made = [make_run(root, i, overfit=i % 3 == 0) for i in range(args.runs)]
    commands = {
        f"cnnrun runs ({args.runs} runs)": ["runs", str(root)],
        "cnnrun plot RUN": ["plot", str(made[0])],
        "cnnrun plot RUN_A RUN_B -o overlay.png": [
            "plot",
            str(made[0]),
            str(made[1]),
            "-o",
            str(root / "overlay.png"),
        ],
        "cnnrun compare RUN_A RUN_B": [
            "compare",
            str(made[0]),
            str(made[1]),
            "-o",
            str(root / "cmp.png"),
        ],
        "cnnrun report RUN": ["report", str(made[0])],
    }
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"median of {args.repeat}, a fresh process each"
    )
    print("| command | median wall time (s) | TensorFlow imported |")
    print("|---|---|---|")
    for label, argv in commands.items():
        times, tf = [], False
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            tf = tf or r.stderr.strip().splitlines()[-1] == "TF"
        print(f"| `{label}` | {statistics.median(times):.3f} | {'yes' if tf else 'no'} |")


if __name__ == "__main__":
    main()
