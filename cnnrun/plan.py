"""Everything that can be known about an experiment before TensorFlow starts.

`make_plan` loads the data's description, fills in what the data decides (input shape,
image size), computes the layer table and finds errors and placement warnings, each located
in the config file. `validate` prints it; `train` refuses to start when it has errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from cnnrun.config.layers import LayerEntry
from cnnrun.config.layers.backbones import NAMED_WEIGHTS
from cnnrun.config.lint import (
    lint_backbones,
    lint_batchnorm_settling,
    lint_layers,
    lint_warmup,
)
from cnnrun.config.load import LoadedConfig
from cnnrun.config.schema import MAX_LAYER_OUTPUT, Config
from cnnrun.config.shapes import LayerRow, LayerTable, infer_shapes
from cnnrun.data.dataset import Dataset
from cnnrun.data.sources import describe
from cnnrun.data.splits import class_weight_problems
from cnnrun.errors import Problem, UserError
from cnnrun.paths import kind_of


@dataclass
class Plan:
    """A validated experiment.

    Args:
        loaded: the config as loaded, to locate messages.
        config: the resolved config: the data's input shape and image format filled in.
        class_names: the classes the model will predict, in label order.
        table: the layer table.
        warnings: placement warnings (not errors).
        dataset: the data, when checking it meant loading it; training reuses it.
    """

    loaded: LoadedConfig
    config: Config
    class_names: list[str]
    table: LayerTable
    warnings: list[Problem] = field(default_factory=list)
    dataset: Dataset | None = None


def _too_large(table: LayerTable, max_params: int) -> list[Problem]:
    """A network too large to build: parameters or one layer's output, from the shape pass."""
    out = []
    for r in table.rows:
        values = math.prod(r.output_shape or ())
        if values > MAX_LAYER_OUTPUT:
            loc = ("model", "layers", *_path_loc(r))
            message = f"outputs {values:,} values per image; at most {MAX_LAYER_OUTPUT:,}"
            out.append(Problem(message, loc))
            break  # the layers after it are as large or larger: the first one says it
    if table.total_params > max_params:
        big = max(table.rows, key=lambda r: r.params)
        out.append(
            Problem(
                f"the network has {table.total_params:,} parameters ({big.params:,} in this "
                f"layer); at most {max_params:,}",
                ("model", "layers", *_path_loc(big)),
                hint="a smaller filters or units value, or raise model.max_params",
            )
        )
    return out


def _path_loc(row: LayerRow) -> tuple:
    loc: list = []
    for i, depth_index in enumerate(row.path):
        loc += [depth_index] if i == 0 else ["layers", depth_index]
    return (*loc, row.kind) if len(row.path) == 1 else tuple(loc)


def _settling(cfg: Config, dataset: Dataset | None) -> list[Problem]:
    """Batchnorm moving averages that cannot settle early in the run (needs the data size)."""
    if dataset is None:
        return []
    held = (cfg.data.test_split or 0) if dataset.y_test is None else 0
    train = len(dataset.y) * (1 - held) * (1 - cfg.data.validation_split)
    steps = max(1, math.ceil(train / cfg.train.batch_size))
    t = cfg.train
    return lint_batchnorm_settling(cfg.model.layers, t.batchnorm_stats, steps, t.epochs)


def _weights_files(
    layers: list[LayerEntry], base_dir: Path, loc: tuple
) -> tuple[list[LayerEntry], list[Problem]]:
    """The layers with each backbone's weights file made absolute (relative ones start at the
    config's folder), and a problem for each file that is not there."""
    out, problems = [], []
    for i, entry in enumerate(layers):
        here = (*loc, i, entry.kind)
        args = entry.args
        if entry.spec.block:
            inner, more = _weights_files(args.layers, base_dir, (*here, "layers"))
            args, problems = args.model_copy(update={"layers": inner}), problems + more
        elif entry.spec.backbone and args.weights not in NAMED_WEIGHTS:
            path = base_dir / Path(args.weights).expanduser()
            if kind_of(path) != "a file":
                where = "no such file" if kind_of(path) == "missing" else kind_of(path)
                problems.append(
                    Problem(
                        f"{path}: {where}; expected imagenet, none or a weights file",
                        (*here, "weights"),
                    )
                )
            args = args.model_copy(update={"weights": str(path.resolve())})
        out.append(LayerEntry(entry.kind, args))
    return out, problems


def make_plan(loaded: LoadedConfig, strict: bool = False) -> Plan:
    """Check a loaded config against its data and compute its layer table.

    Args:
        loaded: from `load_config`.
        strict: treat placement warnings as errors.

    Raises:
        UserError: every error found, located in the config file.
    """
    cfg = loaded.config
    try:
        shape, names, data_cfg, dataset = describe(cfg.data, loaded.base_dir)
    except UserError as e:
        raise UserError([loaded.locate(p) for p in e.problems]) from None
    problems = []
    if cfg.model.input_shape is not None and tuple(cfg.model.input_shape) != tuple(shape):
        problems.append(
            Problem(
                f"model.input_shape is {list(cfg.model.input_shape)} but the data's images are "
                f"{list(shape)}",
                ("model", "input_shape"),
                hint="remove it: the data decides",
            )
        )
    table = infer_shapes(cfg.model.layers, shape, len(names), cfg.train.loss)
    problems += table.problems or _too_large(table, cfg.model.max_params)
    problems += class_weight_problems(cfg.train.class_weight, names)
    warnings = lint_layers(cfg.model.layers) + _settling(cfg, dataset)
    warnings += lint_backbones(cfg.model.layers, cfg.train.phases) + lint_warmup(cfg.train)
    if strict:
        problems += [Problem(**{**w.__dict__, "warning": False}) for w in warnings]
        warnings = []
    layers, missing = _weights_files(cfg.model.layers, loaded.base_dir, ("model", "layers"))
    problems += missing
    if problems:
        raise UserError([loaded.locate(p) for p in problems])
    model = {"input_shape": tuple(shape), "layers": layers}
    resolved = cfg.model_copy(
        update={"data": data_cfg, "model": cfg.model.model_copy(update=model)}
    )
    return Plan(loaded, resolved, names, table, [loaded.locate(w) for w in warnings], dataset)
