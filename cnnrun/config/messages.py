"""Pydantic's validation errors as cnnrun's problems: what was received, what was expected,
and the nearest valid name."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel

from cnnrun.config.keys import models_in
from cnnrun.config.layers import REGISTRY, LayerEntry
from cnnrun.config.schedules import Cosine, Exponential, ReduceOnPlateau, StepDecay
from cnnrun.config.schema import Config
from cnnrun.errors import Problem, suggest

Loc = tuple[str | int, ...]


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc`, to list its valid keys."""
    cls: type[BaseModel] | None = Config
    in_layers = False
    for part in loc:
        if isinstance(part, int):
            continue
        if in_layers:  # a layer item's key is its kind
            kind = REGISTRY.get(part)
            cls, in_layers = (kind.args if kind else None), False
            continue
        if cls is None or part not in cls.model_fields:
            return None
        annotation = cls.model_fields[part].annotation
        in_layers = _holds_layers(annotation)
        cls = next(iter(models_in(annotation)), None)
    return cls


def _holds_layers(annotation: Any) -> bool:
    return any(a is LayerEntry or _holds_layers(a) for a in typing.get_args(annotation))


def show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        text = repr(value)
        return text if len(text) < 60 else "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "tuple": "a list",
}


# Tagged unions: pydantic puts the tag in the error's location, after the field
# (`train.lr_schedule.cosine.factor`); the YAML has no such key, so it is taken out.
TAGGED: dict[Loc, dict[str, type[BaseModel]]] = {
    ("train", "lr_schedule"): {
        "reduce_on_plateau": ReduceOnPlateau,
        "cosine": Cosine,
        "exponential": Exponential,
        "step": StepDecay,
    }
}


def _untag(loc: Loc) -> tuple[Loc, type[BaseModel] | None]:
    for field, models in TAGGED.items():
        n = len(field)
        if loc[:n] == field and len(loc) > n and loc[n] in models:
            return (*field, *loc[n + 1 :]), models[str(loc[n])]
    return loc, None


def _unknown_tag(loc: Loc, value: Any) -> Problem:
    valid = list(TAGGED[loc])
    if not isinstance(value, dict):
        return Problem(
            f"expected a mapping like {{name: {valid[1]}}}, got {show(value)}",
            loc,
            hint="valid names: " + ", ".join(valid),
        )
    name = value.get("name")
    hint = suggest(str(name), valid) or "valid: " + ", ".join(valid)
    return Problem(f"unknown schedule name {show(name)}", (*loc, "name"), hint=hint)


def _unknown_key(loc: Loc, parent: type[BaseModel] | None) -> Problem:
    valid = list(parent.model_fields) if parent else []
    hint = suggest(str(loc[-1]), valid)
    if not hint and valid:
        hint = "valid: " + ", ".join(valid)
    return Problem(f"unknown key '{loc[-1]}'", loc, hint=hint)


# The names pydantic gives the branches of a union in an error's location
# (`constrained-int`, `function-before[...]`, `float`): no key of the YAML has them.
_BRANCH = re.compile(r"^(?:int|float|str|bool)$|^[a-z]+(?:-[a-z]+)+(?:\[.*\])?$|^[a-z-]+\[.*\]$")


def _real(loc: tuple) -> Loc:
    """An error's location with the union branches' names left out."""
    return tuple(p for p in loc if not (isinstance(p, str) and _BRANCH.match(p)))


def _type_error(err: dict) -> bool:
    # a mapping or list refused by a union's word branch (`'balanced' | {class: weight}`) is
    # a branch that never applied, as a type error is
    misfit = err["type"] == "literal_error" and isinstance(err.get("input"), dict | list)
    return err["type"].endswith(("_type", "_parsing")) or err["type"] == "int_from_float" or misfit


def from_pydantic_errors(errors: list[dict]) -> list[Problem]:
    """Pydantic's errors as problems, each once. A value that fails every branch of a union
    is one problem, not one per branch: where one branch refuses its type and another its
    value (a negative float for `int | float > 0`), the value's is the one that says why."""
    by_value = {_real(tuple(e["loc"])) for e in errors if not _type_error(e)}
    kept: dict[Loc, dict] = {}  # of the type errors at one place, the widest branch's: the last
    others = []
    for e in errors:
        loc = _real(tuple(e["loc"]))
        if not _type_error(e):
            others.append(e)
        elif not any(v[: len(loc)] == loc for v in by_value):  # there, or inside it
            kept[loc] = e
    return list(dict.fromkeys(from_pydantic(e) for e in [*others, *kept.values()]))


def from_pydantic(err: dict) -> Problem:
    loc, tagged = _untag(_real(tuple(err["loc"])))
    kind = err["type"]
    value = err.get("input")
    if kind == "unknown_schedule":
        return _unknown_tag(loc, value)
    if kind == "unknown_layer_kind":
        name = str(err["ctx"]["kind"])
        hint = suggest(name, REGISTRY) or "valid: " + ", ".join(REGISTRY)
        return Problem(f"unknown layer kind '{name}'", (*loc, name), hint=hint)
    if kind == "layer_shape":
        return Problem(str(err["msg"]), loc)
    if kind == "extra_forbidden":
        return _unknown_key(loc, tagged if tagged and len(loc) == 3 else _model_at(loc[:-1]))
    if kind == "missing":
        example = {"filters": " (e.g. filters: 16)", "units": " (e.g. units: 10)"}
        return Problem(f"missing required field '{loc[-1]}'{example.get(str(loc[-1]), '')}", loc)
    if kind == "literal_error":
        expected = err["ctx"]["expected"]
        hint = suggest(str(value), re.findall(r"'([^']*)'", expected))
        return Problem(f"expected one of {expected}, got {show(value)}", loc, hint=hint)
    if kind == "finite_number":
        return Problem(f"expected a finite number, got {show(value)}", loc)
    if kind == "value_error":
        return Problem(str(err["msg"]).removeprefix("Value error, "), loc)
    base = kind.split("_")[0]
    if kind.endswith(("_type", "_parsing")) and base in _TYPE_WORDS:
        return Problem(f"expected {_TYPE_WORDS[base]}, got {show(value)}", loc)
    message = str(err["msg"]).replace("Input should be", "expected a value")
    message = message.replace("String should", "expected a string to")
    return Problem(f"{message}, got {show(value)}", loc)
