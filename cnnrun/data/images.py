"""One image file: its size and orientation from its header (`file_header`), and how it
becomes the network's pixels (`Decode`).

Two decoders, chosen by `data.decoder` and recorded with the run so predict decodes as
training did: TensorFlow's ops in the input pipeline (`cnnrun.engine.decode`, the default)
and Pillow (`decode` here: runs from before the default existed, and `hamming`). Both decode
JPEGs with libjpeg's accurate integer DCT, at a reduced scale when much larger than the
input (the same pixels), apply a phone photo's EXIF orientation, make the mode `channels`,
then fit the picture to the network's size.

Example:
    ```python
    (h, w), channels = first_image_format(Path("data/train/cat/001.jpg"))
    x = decode("data/train/cat/001.jpg", Decode((160, 160), 3, resize="crop"))  # uint8
    ```
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrun.config.schema import MAX_IMAGE_PIXELS, DataConfig
from cnnrun.data.lazy import LazyImages
from cnnrun.errors import Problem, UserError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
ORIENTATION = 0x0112  # the EXIF tag; values 5 to 8 turn the picture a quarter


@dataclass(frozen=True)
class Decode:
    """How a file becomes pixels: recorded in the run, so predict decodes as training did.

    Args:
        size: (height, width) of the network's input.
        channels: 1 (grey) or 3 (RGB): grey, RGB, RGBA (alpha dropped), palette and 16-bit
            images all become this.
        resize: `stretch` to the size, `crop` the centre to its aspect ratio first, or `pad`
            with black bars to it.
        interpolation: the resampling filter.
        max_pixels: larger files are refused before they are decoded.
        decoder: `tensorflow` (`cnnrun.engine.decode`) or `pillow` (`decode`).
    """

    size: tuple[int, int]
    channels: int
    resize: str = "stretch"
    interpolation: str = "bilinear"
    max_pixels: int = MAX_IMAGE_PIXELS
    decoder: str = "tensorflow"

    @classmethod
    def of(cls, cfg: DataConfig, shape: Sequence[int] | None = None) -> Decode:
        """The decoding a data config asks for; `shape` (h, w, c) overrides its size."""
        if shape is not None:
            size, channels = (int(shape[0]), int(shape[1])), int(shape[2])
        else:
            s = cfg.image_size
            size = tuple(s) if isinstance(s, tuple | list) else (int(s or 0),) * 2  # type: ignore[assignment]
            channels = int(cfg.channels or 3)
        return cls(
            size,  # type: ignore[arg-type]
            channels,
            cfg.resize,
            cfg.interpolation,
            cfg.max_image_pixels,
            cfg.decoder,
        )

    def record(self) -> dict[str, Any]:
        """What `summary.json` and the weights file say about it."""
        import PIL

        decoder = f"Pillow {PIL.__version__}"
        if self.decoder == "tensorflow":
            decoder = "TensorFlow (decode_jpeg INTEGER_ACCURATE, decode_image, resize antialias)"
        return {
            "decoder": decoder,
            "size": list(self.size),
            "channels": self.channels,
            "resize": self.resize,
            "interpolation": self.interpolation,
            "exif_orientation": True,
            "jpeg_draft": True,
        }


def workers() -> int:
    """Decoding threads: one per core (Pillow decodes with the GIL released)."""
    return os.cpu_count() or 1


def _bad(message: str, file: str, hint: str = "") -> UserError:
    return UserError(Problem(message, file=file, hint=hint))


def _open(path: str, max_pixels: int) -> Any:
    from PIL import Image

    if max_pixels <= Image.MAX_IMAGE_PIXELS:
        im = Image.open(path)  # Pillow's own warning cannot fire below cnnrun's limit
    else:
        with warnings.catch_warnings():  # the size is checked here, with cnnrun's own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    if im.width * im.height > max_pixels:
        im.close()
        raise _bad(
            f"is {im.width}x{im.height} = {im.width * im.height:,} pixels; images are "
            f"refused above {max_pixels:,} before decoding",
            path,
            hint="resize it, or raise the limit (data.max_image_pixels, --max-image-pixels)",
        )
    return im


def file_header(path: str, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) of an image file as stored, from its header.

    Raises:
        UserError: not an image, or over `max_pixels`.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with _open(path, max_pixels) as im:
            return im.width, im.height, orientation(im)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise _bad(f"cannot decode the image: {e}", path) from None


def orientation(im: Any) -> int:
    """An opened image's EXIF orientation (1: as stored), read without decoding its pixels:
    a PNG's only from an `eXIf` chunk before its pixels (Pillow would decode to look further)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    value = im.getexif().get(ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def jpeg_scales(meta: np.ndarray, spec: Decode) -> np.ndarray:
    """Per file, which of libjpeg's scales 1, 1/2, 1/4, 1/8 (0 to 3) decodes a JPEG no smaller
    than the input asks (as Pillow's `draft` picks it): from (width, height, orientation)."""
    meta = np.asarray(meta, dtype=np.int64).reshape(-1, 3)
    h, w = spec.size
    turned = np.isin(meta[:, 2], (5, 6, 7, 8))
    want_w, want_h = np.where(turned, h, w), np.where(turned, w, h)
    scale = np.minimum(meta[:, 0] // want_w, meta[:, 1] // want_h)
    return np.searchsorted([1, 2, 4, 8], np.maximum(scale, 1), side="right") - 1


def _upright(im: Any) -> Any:
    """The picture as a person sees it: a phone's EXIF orientation applied (5 to 8 also
    swap width and height)."""
    from PIL import Image

    turn = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation(im))
    return im if turn is None else im.transpose(turn)


def _to_8bit(im: Any) -> Any:
    """16- and 32-bit grey scaled to 8 bits by the image's own depth, not clipped at 255."""
    from PIL import Image

    if not im.mode.startswith("I"):
        return im
    peak = 65535.0 if im.mode.startswith("I;16") or np.asarray(im).max() <= 65535 else 2**32 - 1
    arr = np.rint(np.asarray(im, dtype=np.float64) * (255.0 / peak))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def _fit(im: Any, spec: Decode) -> Any:
    from PIL import Image, ImageOps

    h, w = spec.size
    if im.size == (w, h):
        return im
    method = getattr(Image.Resampling, spec.interpolation.upper())
    if spec.resize == "crop":
        return ImageOps.fit(im, (w, h), method=method)
    if spec.resize == "pad":
        return ImageOps.pad(im, (w, h), method=method, color=0)
    return im.resize((w, h), method)


def decode(path: str, spec: Decode) -> np.ndarray:
    """One image file as uint8 (height, width, channels), the right way up.

    A JPEG much larger than the network's input is decoded at a reduced scale (libjpeg's
    1/2, 1/4 or 1/8, never below the size asked for) before it is resized: a phone photo
    decodes many times faster, and every decode (training, predict) does the same.

    Raises:
        UserError: a file that cannot be read or decoded, or one over `spec.max_pixels`.
    """
    from PIL import Image, UnidentifiedImageError

    h, w = spec.size
    try:
        with _open(path, spec.max_pixels) as opened:
            if opened.format == "JPEG":
                # asked for the upright size turned as the file stores it
                turned = orientation(opened) in (5, 6, 7, 8)
                opened.draft(opened.mode, (h, w) if turned else (w, h))
            im = _to_8bit(_upright(opened))
            mode = "L" if spec.channels == 1 else "RGB"
            arr = np.asarray(_fit(im if im.mode == mode else im.convert(mode), spec))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise _bad(f"cannot decode the image: {e}", path) from None
    except Image.DecompressionBombError as e:
        raise _bad(f"refused: {e}", path) from None
    return arr[..., None] if spec.channels == 1 else arr


@dataclass
class ImageFiles(LazyImages):
    """Image files decoded on demand: rows are files, read with `spec`.

    Args:
        paths: the files, absolute or relative to the working folder.
        spec: how each becomes pixels.
        root: the folder the source names them from (for the fingerprint: relative paths).
        meta: each file's (width, height, EXIF orientation) as the pre-flight read them from
            their headers; read again when not given.
    """

    paths: list[str]
    spec: Decode
    root: Path = field(default_factory=Path)
    concurrent: bool = True
    meta: np.ndarray | None = field(default=None, repr=False, compare=False)

    def survey(self) -> np.ndarray:
        """int64 (files, 3): each file's width, height and EXIF orientation."""
        if self.meta is None:
            rows = [file_header(p, self.spec.max_pixels) for p in self.paths]
            self.meta = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return self.meta

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (len(self.paths), *self.spec.size, self.spec.channels)

    @property
    def dtype(self) -> np.dtype:  # type: ignore[override]
        return np.dtype(np.uint8)

    def read(self, index: np.ndarray) -> np.ndarray:
        if self.spec.decoder != "pillow":
            # one decoder per run: these files are read by cnnrun.engine.decode
            raise TypeError("ImageFiles of decoder 'tensorflow' are read by tensorflow_decoded")
        out = np.empty((len(index), *self.shape[1:]), np.uint8)
        for k, i in enumerate(np.asarray(index, dtype=np.int64)):
            out[k] = decode(self.paths[i], self.spec)
        return out


def read_image(
    path: Path, size: tuple[int, int], channels: int, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """One image file as a uint8 (height, width, channels) array, stretched to `size`."""
    return decode(str(path), Decode(tuple(size), channels, max_pixels=max_pixels))  # type: ignore[arg-type]


def first_image_format(
    path: Path, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[tuple[int, int], int]:
    """(height, width) and channels (1 for grey, else 3) of an image file, without decoding it.

    The height and width are as a person sees the image: a phone's EXIF rotation swaps them.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with _open(str(path), max_pixels) as im:
            h, w = im.height, im.width
            if orientation(im) in (5, 6, 7, 8):
                h, w = w, h
            return (h, w), 1 if im.mode in GREY_MODES else 3
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise UserError(Problem(f"cannot decode the image: {e}", file=str(path))) from None
