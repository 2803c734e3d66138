"""Opening image files and encoded bytes within a pixel budget, with every decoder failure named.

What a file declares is checked before it is decoded:

- it is opened by a Pillow reader that runs no other program (EPS, which Pillow reads by
  running Ghostscript, is not tried);
- the width × height its header declares is compared with a pixel budget
  (``max_pixels``, :data:`MAX_PIXELS` = 64 megapixels by default, an option of
  :func:`panda_viz.load_images` and :func:`panda_viz.invert`): a larger image is refused
  before a byte of it is decoded, whatever its file size (a 12,000 × 12,000 PNG of zeros
  is a few hundred kilobytes). Pillow's own limit (``PIL.Image.MAX_IMAGE_PIXELS``, an error
  at twice it) applies too;
- any failure of a decoder — truncation, corruption, an unknown format, the exceptions a
  crafted file can provoke inside a plugin — becomes an
  :class:`~panda_viz.exceptions.InvalidFileError` naming the file (an
  :class:`~panda_viz.exceptions.InvalidInputError` for bytes).

It also maps boxes between the upright image (after the EXIF orientation) and the image as
stored, so that only the crop is ever turned upright.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._checks import is_int
from ..exceptions import (
    FileLimitError,
    InvalidFileError,
    InvalidInputError,
    PandaVizError,
    ResourceLimitError,
)

__all__ = ["MAX_PIXELS", "open_image", "decode_errors", "check_pixels", "orientation", "upright_size",
           "stored_box", "turn_upright", "is_lazy"]

#: The most pixels (width × height) an image may declare before it is decoded.
MAX_PIXELS = 64_000_000

#: Formats Pillow can open but that are never tried: reading them runs another program.
REFUSED_FORMATS = ("EPS",)

_ORIENTATION_TAG = 0x0112


def _formats() -> tuple[str, ...]:
    from PIL import Image

    Image.init()
    return tuple(name for name in Image.OPEN if name not in REFUSED_FORMATS)


def _source(where: str, path: Path | None) -> str:
    return f"{where}: {str(path)!r}" if path is not None else f"{where}: the bytes"


def _limit_error(where: str, path: Path | None, why: str) -> PandaVizError:
    """The error for an image past a limit: a FileLimitError for a file, a ResourceLimitError otherwise."""
    if path is not None:
        return FileLimitError(f"{_source(where, path)} {why}", path)
    return ResourceLimitError(f"{where}: the image {why}")


def check_pixels(width: int, height: int, where: str, *, max_pixels: int, path: Path | None = None) -> None:
    """Refuse an image that declares more than ``max_pixels`` pixels (before it is decoded)."""
    if width * height > max_pixels:
        raise _limit_error(where, path, f"declares {width:,} × {height:,} pixels ({width * height / 1e6:,.1f} "
                                        f"megapixels); the limit is {max_pixels:,} pixels (raise it with max_pixels=)")


@contextmanager
def decode_errors(where: str, path: Path | None, *, max_pixels: int, what: str = "the bytes are") -> Iterator[None]:
    """Re-raise whatever decoding an image raises inside the block as a panda_viz error naming its source.

    ``path`` names the file; without one, ``what`` says what was being decoded ("the bytes
    are", "the PIL image is").
    """
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except (PandaVizError, MemoryError):  # a MemoryError is the caller's to name (runtime.devices.memory_errors)
        raise
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        declared = f"{int(found[1]):,} pixels" if found else "more pixels than Pillow decodes"
        raise _limit_error(where, path, f"declares {declared}: past Pillow's own limit (twice "
                                        f"PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,}) and "
                                        f"the limit max_pixels={max_pixels:,}") from None
    except UnidentifiedImageError:
        if path is None:
            raise InvalidInputError(f"{where}: {what} not an image file PIL can read") from None
        raise InvalidFileError(f"{where}: {str(path)!r} is not an image file PIL can read", path) from None
    except Exception as error:  # noqa: BLE001 - a crafted file can make a decoder fail in any way
        why = f"{type(error).__name__}: {str(error)[:200]}"
        if path is None:
            raise InvalidInputError(f"{where}: {what} not an image file PIL can read ({why})") from None
        raise InvalidFileError(f"{where}: {str(path)!r} cannot be read as an image ({why})", path) from None


@contextmanager
def open_image(source: Path | bytes, where: str, *, max_pixels: int) -> Iterator:
    """A file or encoded bytes opened lazily (header read, nothing decoded), its declared size checked.

    The block runs inside :func:`decode_errors`, so decoding the image there (``load()``,
    ``crop``, ``convert``) fails with panda_viz errors too; the image is closed after it.
    """
    from PIL import Image

    path = source if isinstance(source, Path) else None
    with decode_errors(where, path, max_pixels=max_pixels):
        with warnings.catch_warnings():
            # past PIL.Image.MAX_IMAGE_PIXELS but within a max_pixels the caller raised: their choice
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path if path is not None else io.BytesIO(source), formats=_formats())
        try:
            check_pixels(*image.size, where, max_pixels=max_pixels, path=path)
            yield image
        finally:
            image.close()


def is_lazy(image) -> bool:
    """Whether a PIL image is still to be decoded (opened from a file or bytes, not loaded yet)."""
    from PIL import ImageFile

    return isinstance(image, ImageFile.ImageFile) and bool(getattr(image, "tile", None))


# --------------------------------------------------------------------------- orientation
def _transposes() -> dict:
    from PIL import Image

    T = Image.Transpose
    # what PIL.ImageOps.exif_transpose does for each EXIF orientation
    return {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE, 6: T.ROTATE_270,
            7: T.TRANSVERSE, 8: T.ROTATE_90}


def orientation(image) -> int:
    """The image's EXIF orientation, 1 … 8 (1, upright, when it has none or a broken EXIF block).

    Reading the EXIF block of a PNG decodes the image (its ``eXIf`` chunk may follow the
    data): that is done first, outside the guard, so a decoding error is not mistaken for a
    broken EXIF block.
    """
    if is_lazy(image) and image.format not in ("JPEG", "MPO"):
        image.load()
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not fatal: the image is shown as stored
        return 1
    return int(value) if is_int(value) and int(value) in _transposes() else 1


def upright_size(stored: tuple[int, int], turn: int) -> tuple[int, int]:
    """(height, width) of the upright image from the stored ``(width, height)`` (PIL's ``size``)."""
    width, height = stored
    return (width, height) if turn in (5, 6, 7, 8) else (height, width)


def stored_box(box: tuple[int, int, int, int], turn: int, stored: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) of the upright image as a box of the stored image."""
    left, top, right, bottom = box
    W, H = stored
    return {
        1: (left, top, right, bottom),
        2: (W - right, top, W - left, bottom),
        3: (W - right, H - bottom, W - left, H - top),
        4: (left, H - bottom, right, H - top),
        5: (top, left, bottom, right),
        6: (top, H - right, bottom, H - left),
        7: (W - bottom, H - right, W - top, H - left),
        8: (W - bottom, left, W - top, right),
    }[turn]


def turn_upright(region, turn: int):
    """A stored region turned as its EXIF orientation says (``region`` itself when upright)."""
    return region if turn == 1 else region.transpose(_transposes()[turn])
