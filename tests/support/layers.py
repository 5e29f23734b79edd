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
        if not REGISTRY[row.kind].block:
            assert row.params == layer.count_params(), where
            trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
            assert row.trainable == trainable, where
    assert table.total_params == model.count_params(), what
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert table.trainable_params == trainable, what
