"""`cnnrun validate` and `cnnrun.validate`: a config checked against its data, and its layer
table, without TensorFlow; `cnnrun schema`: the config's JSON Schema.

Example:
    >>> plan = validate("configs/digits.yaml")
    >>> plan.table.total_params, plan.class_names[:3]
    (9994, ['0', '1', '2'])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnnrun.config.load import load_config
from cnnrun.config.schema import json_schema
from cnnrun.errors import Problem, UserError
from cnnrun.plan import Plan, make_plan


def validate(
    config: str | Path, *, overrides: Sequence[str] | None = (), strict: bool = False
) -> Plan:
    """Check a config (its file, its data, its layer stack) and compute its layer table.

    Args:
        config: the YAML file.
        overrides: `KEY=VALUE` strings, as `--set`.
        strict: placement warnings are errors.

    Returns:
        The plan: the resolved config, the class names, the layer table (output shape,
        parameters and multiply-adds per layer) and the placement warnings.

    Raises:
        UserError: every problem found, each with its file, YAML line and field path.
    """
    return make_plan(load_config(config, list(overrides or ())), strict=strict)


def validate_all(
    configs: Sequence[Path], overrides: Sequence[str] | None = (), strict: bool = False
) -> list[tuple[Path, Plan | None, list[Problem]]]:
    """`validate` each config; its plan, or the problems that refuse it."""
    out: list[tuple[Path, Plan | None, list[Problem]]] = []
    for path in configs:
        try:
            out.append((path, validate(path, overrides=overrides or (), strict=strict), []))
        except UserError as e:
            out.append((path, None, e.problems))
    return out


def schema() -> dict:
    """The JSON Schema (draft 2020-12) of the config file, for editors and CI linting: every
    layer kind in each form the YAML allows, every bound as a standard keyword."""
    return json_schema()
