"""Photos in: paths, PIL images, NumPy arrays or tensors, cropped and resized for a generator.

Every input becomes a float tensor (N, 3, height, width) in [-1, 1], the range the
generators produce, so a photo can be compared with (and inverted into) a generator's
output. What is accepted:

- a path (``str`` or ``os.PathLike``) of any image file PIL reads; JPEG EXIF orientation
  is applied (``PIL.ImageOps.exif_transpose``), so a phone photo comes out upright;
- a ``PIL.Image.Image`` in any mode: RGB, RGBA / LA / palette with transparency
  (composited over white), greyscale ``L`` / ``1``, 16-bit greyscale ``I;16`` / ``I``,
  float ``F`` (taken as [0, 1]), CMYK, YCbCr …;
- a NumPy array (H, W), (H, W, 1 | 3 | 4) or a batch (N, H, W, C): ``uint8`` in 0 … 255,
  ``uint16`` in 0 … 65535, ``bool``, or floats in [0, 1] (the PIL / matplotlib convention);
- a tensor (H, W), (C, H, W) or (N, C, H, W) with C in 1, 3, 4, channels first: ``uint8``
  in 0 … 255 or floats in [-1, 1] (the convention of this package's generators, so
  ``G.synthesize(z)`` goes straight back in);
- a list or tuple of any of these (sizes may differ): a batch.

Each image is then cropped, to ``box`` or to its largest centred square, and resized to
the generator's resolution with antialiased bicubic interpolation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_int, describe, is_int
from ..exceptions import (
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
    NonFiniteError,
)

__all__ = ["load_images", "load_image", "centre_box", "MIN_IMAGE_SIDE", "Box"]

#: Images smaller than this on either side (before resizing) are refused.
MIN_IMAGE_SIDE = 8

#: A crop (left, top, right, bottom) in pixels, as ``PIL.Image.crop`` takes it.
Box = tuple[float, float, float, float]


# --------------------------------------------------------------------------- one image
def _from_pil(image: Any, where: str) -> torch.Tensor:
    """A PIL image as (3, H, W) float32 in [0, 1], upright and composited over white."""
    from PIL import ImageOps

    try:
        image = ImageOps.exif_transpose(image)
    except Exception as error:  # noqa: BLE001 - a broken EXIF block is not fatal
        del error
    if image.width == 0 or image.height == 0:
        raise InvalidInputError(f"{where}: the image is empty ({image.width}×{image.height} pixels)")
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale: PIL's convert("RGB") would clip at 255, so scale by hand
        grey = np.asarray(image, dtype=np.float64) / 65535.0
        return torch.from_numpy(np.clip(grey, 0, 1)).float().expand(3, *grey.shape).clone()
    if mode == "F":
        grey = np.asarray(image, dtype=np.float64)
        _check_finite(grey, where)
        _check_range(grey, 0.0, 1.0, where, "a float ('F') image")
        return torch.from_numpy(grey).float().expand(3, *grey.shape).clone()
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return _composite(torch.from_numpy(rgba).permute(2, 0, 1))
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1)


def _composite(rgba: torch.Tensor) -> torch.Tensor:
    """(4, H, W) in [0, 1] over a white background: (3, H, W)."""
    alpha = rgba[3:4]
    return rgba[:3] * alpha + (1 - alpha)


def _from_path(path: str | os.PathLike, where: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{where}: no image file at {str(path)!r}", path)
    try:
        with Image.open(path) as image:
            image.load()
            return _from_pil(image, f"{where} ({path})")
    except UnidentifiedImageError:
        raise InvalidFileError(f"{where}: {str(path)!r} is not an image file PIL can read", path) from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, InvalidInputError):
            raise
        raise InvalidFileError(f"{where}: {str(path)!r} cannot be read as an image ({error})", path) from None


def _check_finite(array: np.ndarray | torch.Tensor, where: str) -> None:
    finite = torch.isfinite(array).all() if isinstance(array, torch.Tensor) else np.isfinite(array).all()
    if not bool(finite):
        raise NonFiniteError(f"{where}: the image has NaN or infinite values")


def _check_range(array: np.ndarray | torch.Tensor, low: float, high: float, where: str, what: str) -> None:
    lo, hi = float(array.min()), float(array.max())
    if lo < low or hi > high:
        raise InvalidInputError(f"{where}: {what} must have values in [{low:g}, {high:g}]; got values in [{lo:g}, {hi:g}]")


def _channels_to_rgb(image: torch.Tensor, where: str) -> torch.Tensor:
    """(C, H, W) in [0, 1] with C in 1, 3, 4 to (3, H, W)."""
    channels = image.shape[0]
    if channels == 1:
        return image.expand(3, *image.shape[1:]).clone()
    if channels == 3:
        return image
    if channels == 4:
        return _composite(image)
    raise InvalidInputError(f"{where}: an image has 1, 3 or 4 channels; got {channels} (shape {tuple(image.shape)})")


def _from_numpy(array: np.ndarray, where: str) -> list[torch.Tensor]:
    """(H, W), (H, W, C) or (N, H, W, C), channels last, to a list of (3, H, W) in [0, 1]."""
    if array.size == 0:
        raise InvalidInputError(f"{where}: the array is empty (shape {array.shape})")
    if array.dtype == np.bool_:
        values = array.astype(np.float32)
    elif array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        values = array.astype(np.float32) / 65535.0
    elif array.dtype.kind == "f":
        _check_finite(array, where)
        _check_range(array, 0.0, 1.0, where, "a float NumPy image (the PIL / matplotlib convention)")
        values = array.astype(np.float32)
    else:
        raise InvalidInputError(
            f"{where}: a NumPy image must be uint8, uint16, bool or float in [0, 1]; got dtype {array.dtype}"
        )
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim == 3:
        values = values[None]
    if values.ndim != 4 or values.shape[-1] not in (1, 3, 4):
        raise InvalidInputError(
            f"{where}: a NumPy image has shape (H, W), (H, W, C) or (N, H, W, C) with C in 1, 3, 4 "
            f"(channels last); got {array.shape}"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(values)).permute(0, 3, 1, 2)
    return [_channels_to_rgb(image, where) for image in tensor]


def _from_tensor(tensor: torch.Tensor, where: str) -> list[torch.Tensor]:
    """(H, W), (C, H, W) or (N, C, H, W), channels first, to a list of (3, H, W) in [0, 1]."""
    if tensor.numel() == 0:
        raise InvalidInputError(f"{where}: the tensor is empty (shape {tuple(tensor.shape)})")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.uint8:
        values = tensor.float() / 255.0
    elif tensor.dtype == torch.bool:
        values = tensor.float()
    elif tensor.dtype.is_floating_point:
        _check_finite(tensor, where)
        _check_range(tensor, -1.0, 1.0, where, "a float image tensor (this package's convention, as generators output)")
        values = (tensor.float() + 1) / 2
    else:
        raise InvalidInputError(f"{where}: an image tensor must be uint8, bool or float in [-1, 1]; got {tensor.dtype}")
    if values.ndim == 2:
        values = values[None]
    if values.ndim == 3:
        values = values[None]
    if values.ndim != 4 or values.shape[1] not in (1, 3, 4):
        raise InvalidInputError(
            f"{where}: an image tensor has shape (H, W), (C, H, W) or (N, C, H, W) with C in 1, 3, 4 "
            f"(channels first); got {tuple(tensor.shape)}"
        )
    return [_channels_to_rgb(image, where) for image in values]


def _decode(item: Any, where: str) -> list[torch.Tensor]:
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        return [_from_path(item, where)]
    if isinstance(item, Image.Image):
        return [_from_pil(item, where)]
    if isinstance(item, np.ndarray):
        return _from_numpy(item, where)
    if isinstance(item, torch.Tensor):
        return _from_tensor(item, where)
    if isinstance(item, (bytes, bytearray, memoryview)):
        import io

        try:
            with Image.open(io.BytesIO(bytes(item))) as image:
                image.load()
                return [_from_pil(image, where)]
        except Exception as error:  # noqa: BLE001 - any decoder failure means "not an image"
            raise InvalidInputError(f"{where}: the bytes are not an image file PIL can read ({error})") from None
    raise InvalidTypeError(
        f"{where}: an image must be a path, a PIL image, a NumPy array, a tensor or encoded bytes; "
        f"got {type(item).__name__}"
    )


# --------------------------------------------------------------------------- crop and resize
def _check_box(box: Any, height: int, width: int, where: str) -> tuple[int, int, int, int]:
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: box must be (left, top, right, bottom) in pixels; got {box!r}") from None
    if len(values) != 4 or not all(np.isfinite(values)):
        raise InvalidInputError(f"{where}: box must be 4 finite numbers (left, top, right, bottom); got {box!r}")
    left, top, right, bottom = (int(round(v)) for v in values)
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise InvalidInputError(
            f"{where}: box {tuple(box)} (left, top, right, bottom) is not inside the {width}×{height} image "
            f"(width × height, after EXIF rotation) or is empty"
        )
    if right - left < MIN_IMAGE_SIDE or bottom - top < MIN_IMAGE_SIDE:
        raise InvalidInputError(
            f"{where}: box {tuple(box)} is {right - left}×{bottom - top} pixels; at least "
            f"{MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} expected"
        )
    return left, top, right, bottom


def centre_box(height: int, width: int) -> tuple[int, int, int, int]:
    """The largest centred square (left, top, right, bottom) of an image."""
    side = min(height, width)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _crop_resize(image: torch.Tensor, box: Any, size: tuple[int, int], where: str) -> torch.Tensor:
    _, height, width = image.shape
    if height < MIN_IMAGE_SIDE or width < MIN_IMAGE_SIDE:
        raise InvalidInputError(
            f"{where}: the image is {width}×{height} pixels; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} expected"
        )
    left, top, right, bottom = centre_box(height, width) if box is None else _check_box(box, height, width, where)
    crop = image[:, top:bottom, left:right]
    if tuple(crop.shape[-2:]) == tuple(size):
        return crop
    resized = F.interpolate(crop[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0]
    return resized.clamp(0, 1)


def _boxes(box: Any, n: int) -> list[Any]:
    """One box for every image, or one per image."""
    if box is None:
        return [None] * n
    if isinstance(box, (list, tuple)) and box and all(b is None or isinstance(b, (list, tuple, np.ndarray)) for b in box):
        if len(box) != n:
            raise InvalidInputError(f"box: one box for all images or one per image ({n}) expected; got {len(box)} boxes")
        return list(box)
    return [box] * n


# --------------------------------------------------------------------------- public
def load_images(
    images: Any,
    size: int | tuple[int, int],
    *,
    box: Box | Sequence[Box | None] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Read, crop and resize images into a batch (N, 3, height, width) in [-1, 1].

    Parameters
    ----------
    images : path, PIL image, ndarray, Tensor, bytes, or a list / tuple of them
        See the module docstring for the accepted modes, dtypes and value ranges. A 4-D
        array or tensor is a batch.
    size : int or (height, width)
        The output resolution (a generator's ``image_shape[1:]``).
    box : (left, top, right, bottom), or a sequence with one box (or None) per image
        Crop in pixels of the upright image (after EXIF rotation), as
        ``PIL.Image.crop`` takes it; ``None`` takes the largest centred square. A box that
        is not square is stretched to ``size``.
    device, dtype : optional
        Where and in which float type the batch is returned (default CPU, float32).

    Returns
    -------
    Tensor (N, 3, height, width) in [-1, 1]

    Raises
    ------
    InvalidInputError
        An empty input or image, NaN or out-of-range values, an image smaller than
        :data:`MIN_IMAGE_SIDE` pixels, or a box outside the image.
    InvalidFileError
        A file that is not an image.
    MissingFileError
        A path with no file (a ``FileNotFoundError``).
    InvalidTypeError
        Something that is not an image at all.
    """
    size = _check_size(size)
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise InvalidInputError("images: expected at least one image; got an empty sequence")
    decoded: list[tuple[torch.Tensor, str]] = []
    for i, item in enumerate(items):
        where = f"images[{i}]" if isinstance(images, (list, tuple)) else "images"
        found = _decode(item, where)
        decoded.extend((image, where if len(found) == 1 else f"{where}[{j}]") for j, image in enumerate(found))
    boxes = _boxes(box, len(decoded))
    batch = torch.stack([_crop_resize(image, b, size, where) for (image, where), b in zip(decoded, boxes)])
    out = batch * 2 - 1
    dtype = dtype or torch.float32
    if not dtype.is_floating_point:
        raise InvalidInputError(f"dtype must be a floating-point dtype; got {dtype}")
    return out.to(device=device or "cpu", dtype=dtype)


def load_image(image: Any, size: int | tuple[int, int], *, box: Box | None = None, **kwargs: Any) -> torch.Tensor:
    """One image as (3, height, width) in [-1, 1]; see :func:`load_images`."""
    batch = load_images(image, size, box=box, **kwargs)
    if len(batch) != 1:
        raise InvalidInputError(f"load_image reads one image; got a batch of {len(batch)} (use load_images)")
    return batch[0]


def _check_size(size: Any) -> tuple[int, int]:
    """``size`` as (height, width) of positive ints."""
    if is_int(size):
        values: tuple = (size, size)
    else:
        try:
            values = tuple(size) if not isinstance(size, (str, bytes)) else ()
        except TypeError:
            values = ()
        if len(values) != 2:
            raise InvalidInputError(f"size must be an int or (height, width); got {describe(size)}")
    height, width = (check_int("size", v, low=1) for v in values)
    return height, width
