"""The seed's own Keras models, trained the seed's way, and cnnrun's predictions of a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def seed_dropout_model() -> Any:
    """The seed's Dropout example, as it writes it (3 classes)."""
    import keras
    from keras.layers import Conv2D, Dense, Dropout, Flatten
    from keras.models import Sequential

    model = Sequential()
    model.add(keras.Input(shape=(8, 8, 1)))
    model.add(Conv2D(5, (3, 3), activation="relu"))
    model.add(Dropout(0.25))
    model.add(Conv2D(15, (3, 3), activation="relu"))
    model.add(Flatten())
    model.add(Dense(3, activation="softmax"))
    return model


def seed_batchnorm_model() -> Any:
    """The seed's BatchNormalization example (3 classes)."""
    import keras
    from keras.layers import BatchNormalization, Conv2D, Dense, Flatten
    from keras.models import Sequential

    model = Sequential()
    model.add(keras.Input(shape=(8, 8, 1)))
    model.add(Conv2D(5, (3, 3), activation="relu"))
    model.add(BatchNormalization())
    model.add(Conv2D(15, (3, 3), activation="relu"))
    model.add(Flatten())
    model.add(Dense(3, activation="softmax"))
    return model


def fit_one_epoch(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """One seeded epoch of Keras's own `fit`."""
    import keras

    keras.utils.set_random_seed(0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return model


def digits3(folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Three classes of the built-in digits as float32 in [0, 1], and an .npz of them."""
    from cnnrun.config.schema import DataConfig
    from cnnrun.data.sources import load_dataset

    ds, _ = load_dataset(DataConfig(source="digits"), Path("."))
    keep = ds.y < 3
    x, y = (ds.x[keep] * ds.scale).astype(np.float32), ds.y[keep]
    path = folder / "digits3.npz"
    np.savez(path, x=x, y=y)
    return path, x, y


def predict_probs(cli, weights: Path, inputs: Path, *extra: str) -> tuple[np.ndarray, dict]:
    """`cnnrun predict --weights W INPUTS --probs` of a 3-class model: probabilities, doc."""
    r = cli("predict", "--weights", weights, inputs, "--format", "json", "--probs", *extra)
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    probs = np.array([[row[f"p:{c}"] for c in ("0", "1", "2")] for row in doc["predictions"]])
    return probs, doc


def predict_any(cli, weights: Path) -> tuple[np.ndarray, dict]:
    """`cnnrun predict --weights W digits:test --probs`: every class's probability, doc."""
    r = cli("predict", "--weights", weights, "digits:test", "--format", "json", "--probs")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    return np.array(
        [[v for k, v in row.items() if k.startswith("p:")] for row in doc["predictions"]]
    ), doc
