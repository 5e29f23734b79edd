"""A cnnrun layer table against the Keras model cnnrun builds from the same config."""

from __future__ import annotations

from cnnrun.config.layers import REGISTRY
from cnnrun.config.schema import Config
from cnnrun.config.shapes import LayerTable


def assert_matches_keras(cfg: Config, table: LayerTable, what: str) -> None:
    """Each table row against the Keras layer of the same name, and the totals."""
    from cnnrun.engine.model import build_model

    model = build_model(cfg, compile=False)
    for row in table.rows:
        layer = model.get_layer(f"{row.kind}_{'_'.join(map(str, row.path))}")
        where = f"{row.kind} at {row.path} of {what}"
        assert (None, *row.output_shape) == tuple(layer.output.shape), where
        parts = [layer]
        if REGISTRY[row.kind].backbone:  # its row holds the preprocessing before it too
            parts.append(model.get_layer(f"{layer.name}_preprocess"))
        if not REGISTRY[row.kind].block:
            assert row.params == sum(p.count_params() for p in parts), where
            trainable = sum(int(w.numpy().size) for p in parts for w in p.trainable_weights)
            assert row.trainable == trainable, where
    assert table.total_params == model.count_params(), what
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert table.trainable_params == trainable, what
