"""Wall time of the TensorFlow-free commands, as a user runs them (a fresh process each time).

Usage:
    python benchmarks/bench_cli.py [--repeat 5]

Prints the median wall time per command and whether TensorFlow was imported. Not a test:
timings on shared machines drift, so results go to benchmarks/RESULTS.md with the machine.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import sys, runpy; sys.argv = ['cnnrun', *sys.argv[1:]];\n"
    "try:\n    runpy.run_module('cnnrun', run_name='__main__')\n"
    "except SystemExit: pass\n"
    "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr)"
)


def time_command(args: list[str], repeat: int) -> tuple[float, bool]:
    times, tf = [], False
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True
        )
        times.append(time.perf_counter() - t)
        tf = tf or r.stderr.strip().splitlines()[-1] == "TF"
    return statistics.median(times), tf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    commands = {
        "cnnrun --help": ["--help"],
        "cnnrun validate configs/digits.yaml": ["validate", "configs/digits.yaml"],
        "cnnrun validate configs/mnist5k.yaml": ["validate", "configs/mnist5k.yaml"],
        "cnnrun schema": ["schema"],
    }
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}, median of {repeat}"
    )
    print("| command | median wall time (s) | TensorFlow imported |")
    print("|---|---|---|")
    for label, args in commands.items():
        seconds, tf = time_command(args, repeat)
        print(f"| `{label}` | {seconds:.3f} | {'yes' if tf else 'no'} |")


if __name__ == "__main__":
    main()
