"""`--set KEY=VALUE`: dotted paths with list indices into the raw config, values as YAML scalars.

Example:
    >>> raw = {"train": {"epochs": 3}}
    >>> apply_overrides(raw, ["train.epochs=5", "train.optimizer.learning_rate=0.01"])[0]
    {'train': {'epochs': 5, 'optimizer': {'learning_rate': 0.01}}}
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

from cnnrun.config.layers import REGISTRY
from cnnrun.errors import Problem, UserError, format_path

_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def parse_key(key: str) -> tuple[str | int, ...]:
    """`model.layers[3].dropout.rate` -> `("model", "layers", 3, "dropout", "rate")`."""
    loc: list[str | int] = []
    for part in key.split("."):
        m = _PART.fullmatch(part)
        if not m:
            raise ValueError(f"'{part}' is not a key name or name[index]")
        loc.append(m.group(1))
        loc.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return tuple(loc)


def _set(raw: dict, loc: tuple[str | int, ...], value: Any) -> None:
    node: Any = raw
    for i, part in enumerate(loc[:-1]):
        nxt = loc[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise ValueError(
                    f"{format_path(loc[: i + 1])}: index {part} is out of range "
                    f"(the list has {size} items)"
                )
            child = node[part]
        else:
            if not isinstance(node, dict):
                raise ValueError(f"{format_path(loc[:i])} is not a mapping")
            child = node.get(part)
            short = REGISTRY[part].shorthand if part in REGISTRY else None
            if child is None or (short and not isinstance(child, dict | list)):
                # `dropout: 0.25` becomes `dropout: {rate: 0.25}` so `.rate` can be set
                child = {short: child} if short and child is not None else {}
                if isinstance(nxt, int):
                    child = []
                node[part] = child
        node = child
    last = loc[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            size = len(node) if isinstance(node, list) else 0
            raise ValueError(
                f"{format_path(loc)}: index {last} is out of range (the list has {size} items)"
            )
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ValueError(f"{format_path(loc[:-1])} is not a mapping")


def set_line(key: str, value: Any) -> str:
    """A `--set KEY=VALUE` line for any value: what sweeps and searches add to a run.

    Example:
        >>> set_line("model.layers[1].dropout.rate", 0.3)
        'model.layers[1].dropout.rate=0.3'
        >>> set_line("train.optimizer", {"name": "sgd"})
        'train.optimizer={"name":"sgd"}'
    """
    # JSON is YAML: numbers, strings, booleans, null and whole layer lists survive `--set`.
    return f"{key}={json.dumps(value, separators=(',', ':'))}"


def apply_overrides(raw: dict, sets: Sequence[str]) -> tuple[dict, set[tuple[str | int, ...]]]:
    """Apply `--set` overrides to a copy of the raw config.

    Args:
        raw: the config as loaded from YAML.
        sets: `KEY=VALUE` strings; VALUE is parsed as a YAML scalar or flow collection.

    Returns:
        The new raw config and the set of overridden locations.

    Raises:
        UserError: for a malformed override or a path that does not fit the config.
    """
    raw = copy.deepcopy(raw)
    done: set[tuple[str | int, ...]] = set()
    problems = []
    for item in sets:
        key, sep, text = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError("expected KEY=VALUE, e.g. --set train.epochs=5")
            loc = parse_key(key.strip())
            try:
                value = yaml.safe_load(text) if text.strip() else None
            except yaml.YAMLError as e:
                raise ValueError(f"cannot parse the value {text!r} as YAML: {e}") from None
            _set(raw, loc, value)
            done.add(loc)
        except ValueError as e:
            problems.append(Problem(f"{e}", file=f"--set {item}"))
    if problems:
        raise UserError(problems)
    return raw, done
