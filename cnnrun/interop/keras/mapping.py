"""A Keras model's architecture mapped onto cnnrun's layer kinds, in plain Python.

The config comes from `cnnrun.interop.keras.read`, read without Keras. Every layer class is
looked up here; a Sequential model or a functional one made of chains and residual blocks
becomes a cnnrun layer list, and anything without an equivalent is refused with the layer's
index, its Keras class and the argument.

Example:
    ```python
    mapped = to_cnnrun(read_keras_model(Path("model.keras")))
    mapped.layers[0], mapped.input_shape  # ({'conv2d': {'filters': 5, ...}}, (8, 8, 1))
    ```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnrun.interop.keras.backbones import NESTED, backbone_entry, check_inner
from cnnrun.interop.keras.graph import Graph, Node, tensors
from cnnrun.interop.keras.layers import INITIALISERS, check_known, map_layer
from cnnrun.interop.keras.read import KerasModelFile, malformed, read_keras_model
from cnnrun.interop.keras.read import refuse as _refuse

BYTES_PER_PARAM = 32
WEIGHTS_SLACK = 64_000_000


@dataclass
class MappedModel:
    """A Keras model as cnnrun sees it.

    Args:
        layers: cnnrun layer entries (`{kind: {argument: value}}`), in order.
        input_shape: (height, width, channels).
        num_classes: units of the last dense layer (2 for one sigmoid unit).
        scale: the pixel scaling of a leading `Rescaling` layer, or None.
        notes: what was dropped or assumed, one line each.
        weights: cnnrun layer name -> the Keras layer whose weights it takes ("" keeps
            cnnrun's own: a backbone's fixed preprocessing).
    """

    layers: list[dict]
    input_shape: tuple[int, int, int]
    num_classes: int
    scale: float | None = None
    notes: list[str] = field(default_factory=list)
    weights: dict[str, str] = field(default_factory=dict)


def _layer_list(model: KerasModelFile) -> list[dict]:
    """The layers of a Sequential model, or of a functional one with one input and output."""
    cls = model.config.get("class_name")
    cfg = model.config.get("config") or {}
    layers = cfg.get("layers") if isinstance(cfg, dict) else None
    if cls not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
        raise _refuse(
            model.path, f"its top level is a {cls!r}, not a Keras Sequential or functional model"
        )
    for i, layer in enumerate(layers):
        if (
            not isinstance(layer, dict)
            or not isinstance(layer.get("class_name"), str)
            or not isinstance(layer.get("config"), dict | None)
        ):
            got = type(layer.get("config") if isinstance(layer, dict) else layer).__name__
            raise _refuse(model.path, f"layer {i} is not a layer's config (found a {got})")
    if cls == "Sequential":
        check_known(model.path, layers)
        return layers
    inputs, outputs = tensors(cfg.get("input_layers")), tensors(cfg.get("output_layers"))
    if len(inputs) != 1:
        raise _refuse(model.path, f"has {len(inputs)} inputs; cnnrun classifies one image input")
    if len(outputs) != 1:
        raise _refuse(model.path, f"has {len(outputs)} outputs; cnnrun needs one class output")
    check_known(model.path, layers)
    return layers


def check_size(model: KerasModelFile, params: int) -> None:
    """Refuse weights that expand to far more than the architecture's `params` can hold
    (float64 weights with two optimizer slots each, and room for the file's own structure),
    before Keras reads them: a small file can declare gigabytes."""
    limit = BYTES_PER_PARAM * params + WEIGHTS_SLACK
    if model.weights_bytes > limit:
        raise _refuse(
            model.path,
            f"its weights expand to {model.weights_bytes:,} bytes; its architecture's "
            f"{params:,} parameters need at most {limit:,}; refused",
        )


def check_layers(model: KerasModelFile) -> None:
    """cnnrun's own check of every layer class in the file, nested backbones' included,
    before Keras loads anything: also for a file that carries cnnrun's metadata, which says
    what the network should be, not what the graph holds.

    Raises:
        UserError: a Lambda, a custom object or a class cnnrun has no kind for.
    """
    with malformed(model.path):
        _check_layers(model)


def read_checked(path: Path) -> KerasModelFile:
    """A Keras model file's architecture, read and layer-checked by cnnrun: what every path
    that loads one calls first, before TensorFlow starts."""
    model = read_keras_model(path)
    check_layers(model)
    return model


def _check_layers(model: KerasModelFile) -> None:
    for i, layer in enumerate(_layer_list(model)):
        if layer.get("class_name") in NESTED:
            cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            where = f"layer {i} ({layer.get('class_name')} {cfg.get('name', '')!r})"
            inner = cfg.get("layers")
            check_inner(model.path, where, inner if isinstance(inner, list) else [])


def _input_shape(model: KerasModelFile, layers: list[dict]) -> tuple[int, int, int]:
    first = layers[0] if layers else {}
    cfg = first.get("config") or {}
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if shape is None and first.get("build_config"):
        shape = first["build_config"].get("input_shape")
    if shape is None:
        shape = model.config.get("build_input_shape") or (model.config.get("config") or {}).get(
            "build_input_shape"
        )
    if (
        not isinstance(shape, list)
        or len(shape) != 4
        or not all(isinstance(s, int) and s > 0 for s in shape[1:])
    ):
        raise _refuse(
            model.path,
            f"its input shape is {shape!r}; cnnrun needs (height, width, channels) images",
        )
    return shape[1], shape[2], shape[3]


def to_cnnrun(model: KerasModelFile) -> MappedModel:
    """Map a Keras model onto cnnrun's layer kinds, refusing what has no equivalent.

    A functional model may branch only as a residual block does: an `Add` of a chain of
    layers and the chain's own input (identity shortcut) or one 1x1 `Conv2D` of it
    (projection), optionally followed by an activation; blocks may nest.

    Raises:
        UserError: an unknown or unsafe layer (`Lambda`, custom objects), another kind of
            branch, several inputs or outputs, an argument or value cnnrun cannot express, or
            an output that is not a class distribution; each names the layer and Keras class.
    """
    with malformed(model.path):
        return _to_cnnrun(model)


def _to_cnnrun(model: KerasModelFile) -> MappedModel:
    layers = _layer_list(model)
    shape = _input_shape(model, layers)
    graph = Graph.of(model, layers)
    nodes = graph.nodes()
    scale = None
    if nodes and nodes[0][0] == "layer" and graph.cls(nodes[0][1]) == "Rescaling":
        scale = _rescaling(model, graph.index[nodes[0][1]], graph.layers[nodes[0][1]])
        nodes = nodes[1:]
    mapped = MappedModel([], shape, 0, scale)
    mapped.layers = [_entry(model, graph, n, (i,), mapped) for i, n in enumerate(nodes)]
    mapped.num_classes = _output_units(model, mapped.layers)
    if any(k in INITIALISERS for lay in layers for k in (lay.get("config") or {})):
        mapped.notes.append("initialiser arguments dropped: the trained weights replace them")
    return mapped


def _entry(model: KerasModelFile, g: Graph, node: Node, path: tuple, mapped: MappedModel) -> dict:
    """One cnnrun layer entry for a node, recording where its weights come from."""
    suffix = "_".join(map(str, path))
    if node[0] == "layer":
        name = node[1]
        if g.cls(name) == "Rescaling":
            raise _refuse(
                model.path,
                f"{g.where(name)}: only a first Rescaling maps onto cnnrun's pixel scaling",
            )
        if g.cls(name) in NESTED:
            entry = backbone_entry(model.path, g.index[name], g.layers[name], mapped.notes)
            mapped.weights[f"application_{suffix}_preprocess"] = ""  # cnnrun's own, fixed
        else:
            entry = map_layer(model.path, g.index[name], g.layers[name], mapped.notes)
        mapped.weights[f"{next(iter(entry))}_{suffix}"] = name
        return entry
    _, inner, projection, _add, act = node
    if not inner:
        raise _refuse(model.path, f"a residual branch at {g.where(_add)} has no layers")
    args: dict[str, Any] = {
        "layers": [_entry(model, g, n, (*path, i), mapped) for i, n in enumerate(inner)],
        "shortcut": "projection" if projection else "identity",
        "activation": _block_activation(model, g, act),
    }
    if projection:
        _check_projection(model, g, projection)
        mapped.weights[f"residual_{suffix}_projection"] = projection
    return {"residual": args}


def _block_activation(model: KerasModelFile, g: Graph, act: str | None) -> str:
    if act is None:
        return "linear"
    entry = map_layer(model.path, g.index[act], g.layers[act], [])
    return str(entry["activation"]["activation"])


def _check_projection(model: KerasModelFile, g: Graph, name: str) -> None:
    cfg = g.layers[name].get("config") or {}
    plain = cfg.get("activation") in (None, "linear") and cfg.get("use_bias", True)
    if (
        not plain
        or cfg.get("kernel_regularizer")
        or list(cfg.get("dilation_rate", [1, 1])) != [1, 1]
    ):
        raise _refuse(
            model.path,
            f"{g.where(name)}: a projection shortcut maps onto cnnrun's when it is a 1x1 Conv2D "
            "with a bias, no activation and no regularizer",
        )


def _rescaling(model: KerasModelFile, i: int, layer: dict) -> float:
    cfg = layer.get("config") or {}
    scale, offset = cfg.get("scale", 1.0), cfg.get("offset", 0.0)
    if offset or not isinstance(scale, int | float):
        raise _refuse(
            model.path,
            f"layer {i} (Rescaling): only a first Rescaling(scale) without offset maps onto "
            "cnnrun's pixel scaling",
        )
    return float(scale)


def _output_units(model: KerasModelFile, layers: list[dict]) -> int:
    last = next(
        (
            e
            for e in reversed(layers)
            if next(iter(e)) not in ("dropout", "gaussiandropout", "gaussiannoise")
        ),
        None,
    )
    kind, args = next(iter(last.items())) if last else ("none", {})
    act = args.get("activation", "linear")
    if kind != "dense" and not (kind == "activation" and act == "softmax"):
        raise _refuse(
            model.path, f"ends in {kind}, not a dense layer: its output is not a class distribution"
        )
    units = next((e["dense"]["units"] for e in reversed(layers) if "dense" in e), 0)
    if act not in ("softmax", "linear", "sigmoid") or (act == "sigmoid" and units != 1):
        raise _refuse(
            model.path,
            f"its output layer's activation is {act} over {units} units: not a class distribution",
            hint="cnnrun reads softmax outputs, logits (linear) and one sigmoid unit",
        )
    return 2 if units == 1 else units
