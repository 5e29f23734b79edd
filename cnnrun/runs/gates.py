"""`--fail-under METRIC=VALUE`: the bars a CI job sets, and which of them a run missed.

Example:
    >>> gates = parse_gates(["val_accuracy=0.9"])
    >>> missed(gates, {"val_accuracy": 0.85})
    ['val_accuracy 0.8500 < 0.9']
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from cnnrun.errors import Problem, UserError


def parse_gates(items: Iterable[str]) -> dict[str, float]:
    """`["val_accuracy=0.9"]` -> `{"val_accuracy": 0.9}`; losses are refused (exit 2)."""
    gates = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            bar = float(value)
            if not sep or not key.strip() or not math.isfinite(bar):
                raise ValueError
            gates[key.strip()] = bar
        except ValueError:
            raise UserError(
                Problem("expected METRIC=VALUE, e.g. val_accuracy=0.9", file=f"--fail-under {item}")
            ) from None
        if "loss" in key:
            raise UserError(
                Problem(
                    "a loss is better when lower; gate on an accuracy", file=f"--fail-under {item}"
                )
            )
    return gates


def require_known(gates: dict[str, float], known: Iterable[str], what: str) -> None:
    """Refuse (exit 2) gates on metrics the work will not produce."""
    known = sorted(k for k in set(known) if "loss" not in k)  # losses cannot be gated
    unknown = [g for g in gates if g not in known]
    if unknown:
        raise UserError(
            Problem(
                f"cannot gate on {', '.join(unknown)}; {what} will have {', '.join(known)}",
                file="--fail-under",
            )
        )


def missed(gates: dict[str, float], scores: dict[str, float]) -> list[str]:
    """One line per gate that `scores` misses; empty when every bar is met."""
    out = []
    for key, bar in gates.items():
        value = scores.get(key)
        if value is None or value < bar:
            out.append(f"{key} {'missing' if value is None else f'{value:.4f}'} < {bar}")
    return out
