"""`cnnrun.engine.snapshot`: a weights file written from its learnt layout is byte for byte
the file Keras's `save_weights` writes, after training has moved every value; a file that
cannot be patched so has no layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _model(policy: str = "float32"):
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = keras.Sequential(
            [
                keras.Input((8, 8, 3)),
                keras.layers.Conv2D(4, 3, use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
                keras.layers.Dropout(0.2),
                keras.layers.GlobalAveragePooling2D(),
                # two variables of one shape: swapped bytes would go unseen by shapes alone
                keras.layers.Dense(4),
                keras.layers.Dense(4, activation="softmax", dtype="float32"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.optimizer.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def _train(model, steps: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((8 * steps, 8, 8, 3), dtype=np.float32)
    y = rng.integers(0, 4, 8 * steps)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_a_file_from_the_layout_is_the_file_keras_writes(policy: str, tmp_path: Path):
    import keras

    from cnnrun.engine import snapshot

    model = _model(policy)
    _train(model, 2, seed=0)
    with_opt = snapshot.layout(model, True, tmp_path / "a.weights.h5")
    without = snapshot.layout(model, False, tmp_path / "b.weights.h5")
    assert with_opt is not None and without is not None
    assert not list(tmp_path.iterdir())  # the marker files are gone
    before = [v.numpy().copy() for v in model.trainable_variables]

    _train(model, 3, seed=1)  # every value moves, the optimizer's step and moments too
    moved = zip(before, model.trainable_variables, strict=True)
    assert not any(np.array_equal(a, v.numpy()) for a, v in moved)
    assert with_opt.fits(model) and without.fits(model)
    keras.saving.save_weights(model, tmp_path / "k.weights.h5")
    keras.saving.save_weights(model, tmp_path / "m.weights.h5", objects_to_skip=[model.optimizer])
    snapshot.write(with_opt, tmp_path / "s.weights.h5")
    assert (tmp_path / "s.weights.h5").read_bytes() == (tmp_path / "k.weights.h5").read_bytes()
    assert snapshot.render(without) == (tmp_path / "m.weights.h5").read_bytes()


def test_learning_the_layout_leaves_every_value_as_it_was(tmp_path: Path):
    from cnnrun.engine import snapshot

    model = _model()
    _train(model, 1, seed=0)
    state = [v.numpy().copy() for v in [*model.variables, *model.optimizer.variables]]
    snapshot.layout(model, True, tmp_path / "a.weights.h5")
    after = [v.numpy() for v in [*model.variables, *model.optimizer.variables]]
    assert all(np.array_equal(a, b) for a, b in zip(state, after, strict=True))


def test_a_new_optimizer_no_longer_fits_and_a_bool_variable_has_no_layout(tmp_path: Path):
    import keras

    from cnnrun.engine import snapshot

    model = _model()
    plan = snapshot.layout(model, True, tmp_path / "a.weights.h5")
    assert plan is not None
    model.compile("sgd", "sparse_categorical_crossentropy")  # as a new phase does
    model.optimizer.build(model.trainable_variables)
    assert not plan.fits(model)

    class Flagged(keras.layers.Layer):
        def build(self, shape: tuple) -> None:
            self.flag = self.add_weight(shape=(), dtype="bool", initializer="zeros")

        def call(self, x):
            return x

    flagged = keras.Sequential([keras.Input((3,)), Flagged(), keras.layers.Dense(2)])
    assert snapshot.layout(flagged, False, tmp_path / "b.weights.h5") is None
    assert not list(tmp_path.iterdir())
