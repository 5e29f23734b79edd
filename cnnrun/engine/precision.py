"""`train.precision`: which Keras dtype policy a run trains with, and why.

`auto` is a fixed rule read from the hardware, not a timing taken at start-up:

- a CUDA GPU of compute capability 7.0 or more (tensor cores): `mixed_float16`, with loss
  scaling; under `multi_worker`, whose loop has none, `float32`;
- else a CPU with AMX-BF16 (Intel Sapphire Rapids and later): `mixed_bfloat16`; AVX512-BF16
  alone is not enough, since no run here measured it faster there;
- else `float32`.

Example:
    ```python
    choose("auto", cpu_flags={"avx2", "amx_bf16"}, gpus=[], distribute="none")
    # ('mixed_bfloat16', 'the CPU has AMX-BF16 (bfloat16 matrix tiles)')
    ```
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import tensorflow as tf

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def gpu_capabilities() -> list[tuple[int, int]]:
    """The CUDA compute capability of each visible GPU."""
    out = []
    for gpu in tf.config.list_physical_devices("GPU"):
        cc = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if cc:
            out.append((int(cc[0]), int(cc[1])))
    return out


def choose(
    requested: str, cpu_flags: Iterable[str], gpus: list[tuple[int, int]], distribute: str
) -> tuple[str, str]:
    """The policy for `requested` on this hardware, and the reason in a few words."""
    if requested != "auto":
        return requested, "set in the config"
    if gpus and min(gpus) >= (7, 0):
        if distribute == "multi_worker":
            return "float32", "multi_worker training has no loss scaling for float16"
        return "mixed_float16", f"a CUDA GPU of compute capability {min(gpus)[0]}.{min(gpus)[1]}"
    if gpus:
        return "float32", "the GPU predates tensor cores (compute capability below 7.0)"
    if "amx_bf16" in set(cpu_flags):
        return "mixed_bfloat16", "the CPU has AMX-BF16 (bfloat16 matrix tiles)"
    return "float32", "no AMX-BF16 on the CPU and no CUDA GPU"


def resolve(requested: str, distribute: str) -> tuple[str, str]:
    """`choose` on this machine."""
    if requested != "auto":
        return requested, "set in the config"
    return choose(requested, cpu_flags(), gpu_capabilities(), distribute)
