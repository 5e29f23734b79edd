"""Field types shared by every config section and layer kind: numbers with bounds, sizes, names.

Bounds are given to pydantic's `Field` before any validator, so the JSON Schema carries them as
the standard keywords (`minimum`, `exclusiveMinimum`, `exclusiveMaximum`) that editors and
validators read.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WrapValidator

_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _yaml11_number(value: Any) -> Any:
    # YAML 1.1 (PyYAML) reads `1e-3` and `1e6` as strings; a user writing them means numbers.
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return float(value)
    return value


def number(**bounds: float) -> Any:
    """A finite float field: ints accepted; bools, text, `.inf` and `.nan` refused; `1e-3`
    read as a number.

    Example:
        >>> Rate = number(ge=0, lt=1)
    """
    field = Field(strict=True, allow_inf_nan=False, **bounds)
    return Annotated[float, field, BeforeValidator(_yaml11_number)]


PositiveInt = Annotated[StrictInt, Field(gt=0)]
NonNegInt = Annotated[StrictInt, Field(ge=0)]
NonNegFloat = number(ge=0)
Rate = number(ge=0, lt=1)

Activation = Literal[
    "relu",
    "linear",
    "softmax",
    "sigmoid",
    "tanh",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "leaky_relu",
    "relu6",
    "softplus",
    "mish",
]
Padding = Literal["valid", "same"]
FillMode = Literal["reflect", "wrap", "constant", "nearest"]


def _positive(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _pair(value: Any, handler: Any) -> int | tuple[int, int]:
    # Keras takes an int or a pair for sizes; the union's own errors would name both branches,
    # so one message says what is expected.
    if _positive(value):
        return value
    if isinstance(value, list | tuple) and len(value) == 2 and all(map(_positive, value)):
        return (value[0], value[1])
    raise ValueError(f"expected a positive integer or a list of two, got {value!r}")


def _factor(value: Any, handler: Any) -> float | tuple[float, float]:
    def ok(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and -1 <= v <= 1

    if ok(value):
        return float(value)
    if isinstance(value, list | tuple) and len(value) == 2 and all(ok(v) for v in value):
        if value[0] > value[1]:
            raise ValueError(f"expected [lower, upper] with lower <= upper, got {list(value)}")
        return (float(value[0]), float(value[1]))
    raise ValueError(f"expected a number in [-1, 1] or a list [lower, upper], got {value!r}")


_PAIR_SCHEMA = {
    "anyOf": [
        {"type": "integer", "exclusiveMinimum": 0},
        {
            "type": "array",
            "items": {"type": "integer", "exclusiveMinimum": 0},
            "minItems": 2,
            "maxItems": 2,
        },
    ]
}
_FACTOR_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": -1, "maximum": 1},
        {
            "type": "array",
            "items": {"type": "number", "minimum": -1, "maximum": 1},
            "minItems": 2,
            "maxItems": 2,
        },
    ]
}
Pair = Annotated[int | tuple[int, int], WrapValidator(_pair), Field(json_schema_extra=_PAIR_SCHEMA)]
Factor = Annotated[
    float | tuple[float, float], WrapValidator(_factor), Field(json_schema_extra=_FACTOR_SCHEMA)
]


class Section(BaseModel):
    """Base of every config section and layer: unknown keys are errors, defaults validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """A size as `(height, width)`, whether it was given as one int or two."""
    return (value, value) if isinstance(value, int) else (value[0], value[1])
