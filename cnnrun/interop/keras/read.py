"""Keras model files read by cnnrun itself, before Keras deserialises anything.

A `.keras` file is a zip archive holding `config.json` (the architecture) and
`model.weights.h5`; a legacy full-model `.h5` (Keras 2, or Keras 3's `model.save("x.h5")`
and `ModelCheckpoint`) holds the architecture as JSON in its `model_config` attribute and the
weights under `model_weights/`. Deserialising a model runs code its config names, and bypasses
of Keras's `safe_mode` keep being found (CVE-2025-1550 and its successors), so cnnrun reads the
config here, in plain Python and under size limits, refuses every layer class it does not know
(`Lambda`, custom objects), and maps the rest onto its own layer kinds. Only then does the
engine load the file with `safe_mode=True`.

Example:
    ```python
    model = read_keras_model(Path("model.keras"))
    model.format, model.config["class_name"]  # ('keras', 'Sequential')
    ```
"""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnrun.errors import Problem, UserError

ZIP_MAGIC, HDF5_MAGIC = b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"
# Far above any CNN of this tool's scale, far below what exhausts a machine: an archive's
# members, the architecture's JSON, and what the archive may claim to expand to.
MAX_MEMBERS = 64
MAX_CONFIG_BYTES = 16_000_000
MAX_ARCHIVE_EXPANDED = 8_000_000_000
MAX_DEPTH = 100  # a model's JSON nests a few levels a block; Python's own limit is near 1000
WEIGHTS_MEMBER = "model.weights.h5"
# A `.keras` file that `cnnrun export` wrote carries the run's resolved config here.
CNNRUN_MEMBER = "cnnrun.json"


@dataclass
class KerasModelFile:
    """A Keras model file's architecture, read without Keras.

    Args:
        path: the file.
        format: `keras` (zip) or `h5` (legacy full model).
        config: the model's config (`class_name`, `config`).
        cnnrun: the metadata `cnnrun export` stored in it, if any.
        weights_bytes: the bytes its weights (and optimizer state) expand to, as declared:
            checked against the architecture before Keras reads them.
    """

    path: Path
    format: str
    config: dict
    cnnrun: dict | None = None
    weights_bytes: int = 0  # what the weights expand to, as the file declares it


def refuse(path: Path, message: str, hint: str = "") -> UserError:
    """The one-line refusal of a model file."""
    return UserError(Problem(message, file=str(path), hint=hint))


@contextmanager
def malformed(path: Path) -> Iterator[None]:
    """Any config shape the reader did not expect (a layer config that is a number, a
    missing key, a parent named nowhere) refused as one line, not a traceback."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as e:
        reason = f"{type(e).__name__}: {str(e)[:120]}"
        raise refuse(path, f"its config is not one Keras writes ({reason}); refused") from None


def sniff(path: Path) -> str | None:
    """`keras`, `h5` or None, by the file's first bytes (not its name); None for anything but
    a regular file, which is never opened (a FIFO would block the read)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head.startswith(ZIP_MAGIC):
        return "keras"
    return "h5" if head == HDF5_MAGIC else None


def is_keras_model(path: Path) -> bool:
    """A `.keras` archive or a legacy full-model HDF5 file (not a cnnrun weights file)."""
    kind = sniff(path)
    if kind == "keras":
        return True
    if kind != "h5":
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    except OSError:
        return False


def _depth(doc: object) -> int:
    """How deeply `doc` nests, walked without recursion."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:  # one level past the limit is enough to refuse
                items = value.values() if isinstance(value, dict) else value
                stack.extend((v, depth + 1) for v in items)
    return deepest


def _json(path: Path, text: bytes | str, what: str) -> dict:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise refuse(path, f"its {what} nests deeper than Python can read; refused") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise refuse(path, f"its {what} is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise refuse(path, f"its {what} is not a JSON object")
    if _depth(doc) > MAX_DEPTH:
        raise refuse(path, f"its {what} nests more than {MAX_DEPTH} levels deep; refused")
    return doc


def _read_zip(path: Path) -> KerasModelFile:
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise refuse(path, f"holds {len(infos)} members; a .keras file holds 3")
            if sum(i.file_size for i in infos) > MAX_ARCHIVE_EXPANDED:
                raise refuse(path, "claims to expand to more than 8 GB; refused")
            sizes = {i.filename: i.file_size for i in infos}
            if "config.json" not in sizes:
                raise refuse(path, "is a zip archive without config.json: not a .keras model")
            for name in ("config.json", CNNRUN_MEMBER):
                if sizes.get(name, 0) > MAX_CONFIG_BYTES:
                    raise refuse(path, f"its {name} is larger than 16 MB; refused")
            config = _json(path, z.read("config.json"), "config.json")
            extra = (
                _json(path, z.read(CNNRUN_MEMBER), CNNRUN_MEMBER)
                if CNNRUN_MEMBER in sizes
                else None
            )
    except zipfile.BadZipFile as e:
        raise refuse(
            path, f"is not a readable .keras archive (truncated or damaged: {e})"
        ) from None
    except OSError as e:
        raise refuse(path, f"cannot be read ({e})") from None
    return KerasModelFile(path, "keras", config, extra, sizes.get(WEIGHTS_MEMBER, 0))


def _read_h5(path: Path) -> KerasModelFile:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise refuse(
                    path,
                    "is an HDF5 file without a model_config: not a full Keras model",
                    hint="a weights-only file needs --config, or is a cnnrun .weights.h5",
                )
            try:  # h5py decodes a variable-length string itself, a fixed one is bytes
                raw = f.attrs["model_config"]
                text = raw.decode() if isinstance(raw, bytes) else str(raw)
            except UnicodeDecodeError:
                raise refuse(path, "its model_config is not UTF-8 text; refused") from None
            if len(text) > MAX_CONFIG_BYTES:
                raise refuse(path, "its model_config is larger than 16 MB; refused")
            if "model_weights" not in f:
                raise refuse(path, "holds an architecture but no model_weights group")
            weights = _dataset_bytes(f)
    except OSError as e:
        raise refuse(path, f"cannot be read as HDF5 (truncated or damaged: {e})") from None
    return KerasModelFile(path, "h5", _json(path, text, "model_config"), None, weights)


def _dataset_bytes(f: Any) -> int:
    """What every dataset of an HDF5 file expands to (shape times item size, from the
    metadata: nothing is read or decompressed)."""
    import h5py

    total = [0]

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            total[0] += int(obj.size) * int(obj.dtype.itemsize)

    f.visititems(visit)
    return total[0]


def read_keras_model(path: Path) -> KerasModelFile:
    """Read a Keras model file's architecture, checking its format against its name.

    Raises:
        UserError: unreadable, truncated, too large, a `.keras` named `.h5` or the reverse.
    """
    kind = sniff(path)
    suffix = path.suffix.lower()
    if kind == "keras" and suffix in (".h5", ".hdf5"):
        raise refuse(path, "is a .keras zip archive named .h5", hint="rename it to .keras")
    if kind == "h5" and suffix == ".keras":
        raise refuse(path, "is an HDF5 file named .keras", hint="rename it to .h5")
    if kind == "keras":
        return _read_zip(path)
    if kind == "h5":
        return _read_h5(path)
    raise refuse(path, "is neither a .keras archive nor an HDF5 file (truncated, or not a model)")
