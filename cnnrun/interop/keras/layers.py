"""One layer of a Keras model's config mapped onto a cnnrun layer kind, in plain Python: the
map comes from the kinds' declarations (`cnnrun.config.layers`), and every argument either
has an equivalent, holds the value cnnrun's kind implies, or is refused.

Example:
    >>> map_layer(Path("m.keras"), 0, {"class_name": "Dropout", "config": {"rate": 0.3}}, [])
    {'dropout': {'rate': 0.3}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnrun.config.layers import REGISTRY
from cnnrun.interop.keras.backbones import NESTED
from cnnrun.interop.keras.read import refuse as _refuse

# Arguments that only choose an initialiser, or that every cnnrun layer has as Keras's default:
# dropped (initialisers, with a note: trained weights replace them).
INITIALISERS = {
    "kernel_initializer",
    "bias_initializer",
    "depthwise_initializer",
    "pointwise_initializer",
    "beta_initializer",
    "gamma_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
    "embeddings_initializer",
}
IGNORED = {"name", "trainable", "dtype", "seed", "data_format"}
# Arguments cnnrun cannot express unless they hold these values.
REQUIRED = {
    "groups": 1,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
    "depthwise_constraint": None,
    "pointwise_constraint": None,
    "beta_constraint": None,
    "gamma_constraint": None,
    "beta_regularizer": None,
    "gamma_regularizer": None,
    "depthwise_regularizer": None,
    "pointwise_regularizer": None,
    "noise_shape": None,
    "keepdims": False,
    "renorm": False,
    "renorm_clipping": None,
    "renorm_momentum": 0.99,
    "quantization_config": None,
    "synchronized": False,
    "rms_scaling": False,
    "interpolation": "bilinear",
    "fill_value": 0.0,
    "value_range": [0, 255],
}


def layer_map() -> dict[str, tuple[str, list[str]]]:
    """Keras class -> (cnnrun kind, the Keras arguments it keeps), from the kinds' declarations;
    a plain `ReLU` is `activation: relu`.

    Example:
        >>> layer_map()["MaxPooling2D"]
        ('maxpool2d', ['pool_size', 'strides', 'padding'])
    """
    out = {k.keras: (k.name, k.keras_arguments) for k in REGISTRY.values() if k.keras}
    return {**out, "ReLU": ("activation", [])}


LAYER_MAP = layer_map()
# Classes that hold no layer of the network: the input, and a leading pixel scaling.
STRUCTURAL = {"InputLayer", "Rescaling", "Add"}
KNOWN = {*LAYER_MAP, *STRUCTURAL}


def check_known(path: Path, layers: list[dict]) -> None:
    """Refuse a `Lambda` layer, a custom object, or a class cnnrun has no kind for."""
    for i, layer in enumerate(layers):
        cls = layer.get("class_name")
        module = str(layer.get("module") or "keras.layers")
        if cls == "Lambda":
            raise _refuse(
                path,
                f"layer {i} is a Lambda layer: its code would run when the model loads; refused",
                hint="rebuild the model without Lambda layers",
            )
        if cls in NESTED:  # a backbone: checked as one (`cnnrun.interop.keras.backbones`)
            continue
        if (
            cls not in KNOWN
            or layer.get("registered_name") not in (None, cls)
            or not module.startswith("keras")
        ):
            raise _refuse(
                path,
                f"layer {i} is a {cls!r} ({module}), which cnnrun does not know: custom objects "
                "and unknown layers are refused before anything is loaded",
                hint="supported: " + ", ".join(sorted(KNOWN)),
            )


def _value(v: Any) -> Any:
    """Keras's `[3, 3]` as cnnrun's `3`, as a user writes it; other values as they are."""
    v = list(v) if isinstance(v, tuple) else v
    if isinstance(v, list) and len(v) == 2 and v[0] == v[1] and isinstance(v[0], int):
        return v[0]
    return v


def map_layer(path: Path, i: int, layer: dict, notes: list[str]) -> dict:
    """Layer `i`'s config as a cnnrun layer entry; what was dropped goes into `notes`."""
    cls, cfg = layer["class_name"], dict(layer.get("config") or {})
    kind, keep = LAYER_MAP[cls]
    where = f"layer {i} ({cls})"
    if cfg.get("axis", -1) not in (-1, 3, [-1], [3]):
        raise _refuse(path, f"{where}: axis {cfg['axis']!r}; cnnrun normalises the last axis")
    if cls == "ReLU":
        return _relu(path, where, cfg)
    args: dict[str, Any] = {}
    for key, value in cfg.items():
        args.update(_argument(path, where, kind, keep, key, value, notes))
    if "activation" in keep and args.get("activation") is None:
        args["activation"] = "linear"
    return {kind: args}


def _argument(
    path: Path, where: str, kind: str, keep: list[str], key: str, value: Any, notes: list[str]
) -> dict[str, Any]:
    """One Keras argument as the kind's arguments it becomes (none, when it is dropped)."""
    if key in IGNORED or key == "axis":
        return {}
    if key in keep:  # kept as it is, even where another class needs a fixed value of it
        return {key: _value(value)}
    if key in REQUIRED and _value(value) == REQUIRED[key]:
        return {}
    if key in INITIALISERS:
        if value is not None and not _stock_initializer(value):
            notes.append(f"{where}: {key} dropped (trained weights replace it)")
        return {}
    if key == "kernel_regularizer" and "l2" in REGISTRY[kind].args.model_fields:
        return _l2(path, where, value)
    raise _refuse(
        path,
        f"{where}: argument {key}={value!r} has no cnnrun equivalent",
        hint=f"cnnrun's {kind} takes: {', '.join(keep) or 'no arguments'}",
    )


def _stock_initializer(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") in STOCK_INITIALIZERS


# Keras's default initialisers: dropping them loses nothing worth a note.
STOCK_INITIALIZERS = {"GlorotUniform", "Zeros", "Ones", "HeNormal"}


def _relu(path: Path, where: str, cfg: dict) -> dict:
    plain = (("max_value", None), ("negative_slope", 0.0), ("threshold", 0.0))
    if any(cfg.get(k, d) not in (None, d) for k, d in plain):
        raise _refuse(path, f"{where}: only a plain ReLU maps onto activation: relu")
    return {"activation": {"activation": "relu"}}


def _l2(path: Path, where: str, value: Any) -> dict:
    if value is None:
        return {}
    cfg = value.get("config") if isinstance(value, dict) else None
    l2 = cfg.get("l2") if isinstance(cfg, dict) else None
    if isinstance(value, dict) and value.get("class_name") in ("L2", "L1L2") and l2 is None:
        raise _refuse(path, f"{where}: kernel_regularizer {value.get('class_name')} without its l2")
    if isinstance(value, dict) and value.get("class_name") == "L2":
        return {"l2": float(l2)}
    if isinstance(value, dict) and value.get("class_name") == "L1L2" and not cfg.get("l1"):
        return {"l2": float(l2)}
    raise _refuse(path, f"{where}: kernel_regularizer {value!r}; cnnrun takes an L2 one only")
