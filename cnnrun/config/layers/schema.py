"""The JSON Schema of a layer list item: every declared kind, in each form the YAML allows."""

from __future__ import annotations

from typing import Any

from cnnrun.config.layers.base import LAYER_MARK, REGISTRY


def mark_to_ref(node: Any) -> Any:
    """The JSON Schema with each layer-list marker replaced by `$ref: #/$defs/Layer`."""
    if isinstance(node, dict):
        if node.get(LAYER_MARK):
            return {"$ref": "#/$defs/Layer"}
        return {k: mark_to_ref(v) for k, v in node.items()}
    if isinstance(node, list):
        return [mark_to_ref(v) for v in node]
    return node


def layer_schemas(defs: dict[str, dict]) -> dict:
    """The JSON Schema of one layer item: every declared kind in each form YAML allows.

    Args:
        defs: the `$defs` of the config schema, holding each kind's arguments model by name.
    """
    forms: list[dict] = []
    for spec in REGISTRY.values():
        value: list[dict] = [{"$ref": f"#/$defs/{spec.args.__name__}"}]
        if spec.shorthand:
            props = defs.get(spec.args.__name__, {}).get("properties", {})
            value.append(props.get(spec.shorthand, {}))
        if spec.takes_no_arguments:
            value.append({"type": "null"})
        forms.append(
            {
                "type": "object",
                "properties": {spec.name: value[0] if len(value) == 1 else {"anyOf": value}},
                "required": [spec.name],
                "additionalProperties": False,
            }
        )
    forms = [mark_to_ref(f) for f in forms]
    bare = [k.name for k in REGISTRY.values() if k.takes_no_arguments]
    forms.append({"enum": bare, "description": "a kind that takes no arguments, written alone"})
    return {"anyOf": forms, "description": "one layer: {kind: {argument: value, ...}}"}
