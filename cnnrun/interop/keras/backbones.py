"""A `keras.applications` backbone inside a Keras model file, recognised in plain Python: a
nested functional model named as Keras names one of its constructors (`mobilenetv2_1.00_224`,
`MobileNetV3Small`, `efficientnetb0`, ...), made of stock Keras layers only, becomes one
`application` entry; its weights are copied from the file.

Example:
    >>> layer = {"class_name": "Functional", "config": {"name": "efficientnetb0", "layers": []}}
    >>> backbone_entry(Path("m.keras"), 1, layer, [])
    {'application': {'name': 'EfficientNetB0', 'weights': 'none', 'trainable': False, \
'batchnorm': 'inference'}}
"""

from __future__ import annotations

import re
from pathlib import Path

from cnnrun.config.layers.backbone_table import BACKBONES
from cnnrun.interop.keras.read import refuse as _refuse

NESTED = ("Functional", "Model")
# Keras names MobileNet and MobileNetV2 by their width and input size: only the 1.0 width
# is a constructor's default, the size is the input's.
_SIZED = re.compile(r"^(mobilenet(?:v2)?_1\.00)_\d+$")


def _by_keras_name() -> dict[str, str]:
    out = {}
    for name, info in BACKBONES.items():
        sized = _SIZED.match(info["keras_name"])
        out[sized.group(1) if sized else info["keras_name"]] = name
    return out


KERAS_NAMES = _by_keras_name()


def constructor_of(keras_name: str) -> str | None:
    """The `keras.applications` constructor a nested model's name says it was built by."""
    sized = _SIZED.match(keras_name)
    return KERAS_NAMES.get(sized.group(1) if sized else keras_name)


def check_inner(path: Path, where: str, layers: list) -> None:
    """Only stock Keras layers inside: no Lambda, custom object or further nesting."""
    for layer in layers:
        cls = layer.get("class_name") if isinstance(layer, dict) else None
        module = str((layer.get("module") if isinstance(layer, dict) else None) or "keras.layers")
        registered = layer.get("registered_name") if isinstance(layer, dict) else None
        if (
            not isinstance(cls, str)
            or cls in ("Lambda", "TFSMLayer", *NESTED, "Sequential")
            or registered not in (None, cls)
            or not module.startswith("keras")
        ):
            raise _refuse(
                path,
                f"{where} holds a {cls!r} ({module}): a backbone is read only when it is "
                "made of stock Keras layers",
            )


def backbone_entry(path: Path, i: int, layer: dict, notes: list[str]) -> dict:
    """Layer `i`, a nested functional model, as an `application` entry.

    Raises:
        UserError: a nested model that is not a `keras.applications` backbone by its name,
            or one holding anything but stock Keras layers.
    """
    cfg = layer.get("config") or {}
    keras_name = str(cfg.get("name", ""))
    where = f"layer {i} ({layer.get('class_name')} {keras_name!r})"
    name = constructor_of(keras_name)
    if name is None:
        raise _refuse(
            path,
            f"{where} is a nested model, not a keras.applications backbone by its name",
            hint="cnnrun reads a nested model only when it is a keras.applications "
            "constructor's, as built (include_top=False, its own name)",
        )
    inner = cfg.get("layers")
    check_inner(path, where, inner if isinstance(inner, list) else [])
    notes.append(
        f"{where}: {name}, fed as Keras's guide feeds it (the family's preprocess_input of "
        "0..255 pixels), which cnnrun does inside the network"
    )
    args = {
        "name": name,
        "weights": "none",  # the file's weights are copied in
        "trainable": bool(layer.get("trainable", cfg.get("trainable", False))),
        "batchnorm": "inference",
    }
    return {"application": args}
