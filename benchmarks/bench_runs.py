"""Wall time of `plot`, `runs`, `compare` and `report` on a folder of 50 runs, each a fresh
process as a user runs it, and whether TensorFlow was imported.

Usage:
    python benchmarks/bench_runs.py [--runs 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from bench_cli import time_command  # the same fresh-process timing as the CLI benchmark

from cnnrun.synthetic import make_run


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
        seconds, tf = time_command(argv, args.repeat)
        print(f"| `{label}` | {seconds:.3f} | {'yes' if tf else 'no'} |")


if __name__ == "__main__":
    main()
