"""Photos in: paths, PIL images, NumPy arrays or tensors, cropped and resized for a generator.

Every input becomes a float tensor (N, 3, height, width) in [-1, 1], the range the
generators produce, so a photo can be compared with (and inverted into) a generator's
output. What is accepted:

- a path (``str`` or ``os.PathLike``) of any image file PIL reads by itself (not EPS,
  which needs Ghostscript), or its encoded ``bytes``; JPEG EXIF orientation is applied,
  so a phone photo comes out upright;
- a ``PIL.Image.Image`` in any mode (:mod:`panda_viz.imaging.pil_modes`): alpha and
  transparency composited over white, palettes expanded, 16-bit modes scaled by 65535,
  premultiplied ``La`` / ``RGBa``, CMYK, YCbCr, LAB, HSV, float ``F`` …;
- a NumPy array (H, W), (H, W, 1 | 3 | 4) or a batch (N, H, W, C): ``uint8`` in 0 … 255,
  ``uint16`` in 0 … 65535, ``bool``, or floats in [0, 1] (the PIL / matplotlib convention);
- a tensor (H, W), (C, H, W) or (N, C, H, W) with C in 1, 3, 4, channels first: ``uint8``
  in 0 … 255 or floats in [-1, 1] (the convention of this package's generators, so
  ``G.synthesize(z)`` goes straight back in);
- a list or tuple of any of these (sizes may differ): a batch.

Each image is then cropped, to ``box`` or to its largest centred square, and resized to
the generator's resolution with antialiased bicubic interpolation.

**Within a budget.** An image file or bytes declaring more than ``max_pixels`` pixels
(:data:`MAX_PIXELS`, 64 megapixels) is refused before it is decoded; a large image is
converted to floats band by band and block-averaged on the way (large JPEGs are decoded
reduced), so a 60-megapixel photo takes a few hundred megabytes at most
(:mod:`panda_viz.imaging.sources`). The output size and the batch are checked against the
same pixel budget and against the memory free on the device before anything is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_int, describe, is_int
from ..exceptions import (
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
    ResourceLimitError,
)
from ..runtime.devices import check_device, check_memory, memory_errors
from .decoding import MAX_PIXELS, decode_errors, is_lazy, open_image
from .sources import ArraySource, PilSource, TensorSource, check_values

__all__ = ["load_images", "load_image", "photo_batch", "PhotoBatch", "Crop", "crop_notes", "centre_box",
           "MIN_IMAGE_SIDE", "MAX_PIXELS", "UPSCALE_NOTE", "KEPT_NOTE", "STRETCH_NOTE", "Box"]

#: Images smaller than this on either side (before resizing) are refused.
MIN_IMAGE_SIDE = 8

#: A crop (left, top, right, bottom) in pixels, as ``PIL.Image.crop`` takes it.
Box = tuple[float, float, float, float]

#: :func:`crop_notes` (and so :func:`panda_viz.invert`'s warning) speaks of a crop upscaled
#: more than this, of a centred crop that keeps less than this fraction of the image, and
#: of a crop stretched more than this in one direction than in the other.
UPSCALE_NOTE = 1.5
KEPT_NOTE = 0.5
STRETCH_NOTE = 1.25


@dataclass(frozen=True)
class Crop:
    """What was done to one image: the crop taken and how it was scaled.

    Attributes
    ----------
    image_size : (height, width)
        The upright image (after its EXIF orientation).
    box : (left, top, right, bottom)
        The crop in pixels of the upright image.
    size : (height, width)
        The output it was resized to.
    centred : bool
        True when no box was given and the crop is the image's largest centred square.
    """

    image_size: tuple[int, int]
    box: tuple[int, int, int, int]
    size: tuple[int, int]
    centred: bool

    @property
    def scale(self) -> tuple[float, float]:
        """Output pixels per image pixel, (vertical, horizontal): above 1 the crop was upscaled."""
        left, top, right, bottom = self.box
        return self.size[0] / (bottom - top), self.size[1] / (right - left)

    @property
    def kept(self) -> float:
        """The fraction of the image's area inside the crop."""
        left, top, right, bottom = self.box
        return (right - left) * (bottom - top) / (self.image_size[0] * self.image_size[1])


def crop_notes(crop: Crop) -> list[str]:
    """What is doubtful about a crop, in words: upscaled, little of the image kept, stretched (empty if nothing)."""
    notes = []
    vertical, horizontal = crop.scale
    if max(vertical, horizontal) > UPSCALE_NOTE:
        notes.append(f"upscaled {max(vertical, horizontal):.2g}× (the crop has fewer pixels than the output: "
                     "the detail it lacks is the generator's invention)")
    if crop.centred and crop.kept < KEPT_NOTE:
        height, width = crop.image_size
        notes.append(f"the centred square keeps {crop.kept:.0%} of the image (its aspect ratio "
                     f"{max(height, width) / min(height, width):.2g}:1 is far from the output's; pass box= to choose the part)")
    if max(vertical, horizontal) > STRETCH_NOTE * min(vertical, horizontal):
        notes.append(f"stretched {max(vertical, horizontal) / min(vertical, horizontal):.2g}× more "
                     f"{'vertically' if vertical > horizontal else 'horizontally'} than "
                     f"{'horizontally' if vertical > horizontal else 'vertically'} (the box's aspect ratio is not the output's)")
    return notes


@dataclass(frozen=True)
class PhotoBatch:
    """:func:`photo_batch`'s result: the images and what was done to each.

    Attributes
    ----------
    images : Tensor (N, 3, height, width) in [-1, 1]
    crops : tuple of Crop
        One per image, in order.
    """

    images: torch.Tensor
    crops: tuple[Crop, ...]


# --------------------------------------------------------------------------- sources
def _count(item: Any) -> int:
    """How many images an item holds, known without decoding it (a 4-D array or tensor is a batch)."""
    if isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim == 4:
        return int(item.shape[0])
    return 1


def _numpy_sources(array: np.ndarray, where: str) -> list[ArraySource]:
    """(H, W), (H, W, C) or (N, H, W, C), channels last: one source per image, values checked."""
    if array.size == 0:
        raise InvalidInputError(f"{where}: the array is empty (shape {array.shape})")
    if array.dtype.kind == "f":
        check_values(array, 0.0, 1.0, where, "a float NumPy image (the PIL / matplotlib convention)")
    elif array.dtype not in (np.bool_, np.uint8, np.uint16):
        raise InvalidInputError(
            f"{where}: a NumPy image must be uint8, uint16, bool or float in [0, 1]; got dtype {array.dtype}"
        )
    values = array[..., None] if array.ndim == 2 else array
    values = values[None] if values.ndim == 3 else values
    if values.ndim != 4 or values.shape[-1] not in (1, 3, 4):
        raise InvalidInputError(
            f"{where}: a NumPy image has shape (H, W), (H, W, C) or (N, H, W, C) with C in 1, 3, 4 "
            f"(channels last); got {array.shape}"
        )
    return [ArraySource(image, where if len(values) == 1 else f"{where}[{j}]") for j, image in enumerate(values)]


def _tensor_sources(tensor: torch.Tensor, where: str) -> list[TensorSource]:
    """(H, W), (C, H, W) or (N, C, H, W), channels first: one source per image, values checked."""
    if tensor.numel() == 0:
        raise InvalidInputError(f"{where}: the tensor is empty (shape {tuple(tensor.shape)})")
    tensor = tensor.detach().cpu()
    if tensor.dtype.is_floating_point:
        check_values(tensor, -1.0, 1.0, where, "a float image tensor (this package's convention, as generators output)")
    elif tensor.dtype not in (torch.uint8, torch.bool):
        raise InvalidInputError(f"{where}: an image tensor must be uint8, bool or float in [-1, 1]; got {tensor.dtype}")
    values = tensor[None] if tensor.ndim == 2 else tensor
    values = values[None] if values.ndim == 3 else values
    if values.ndim != 4 or values.shape[1] not in (1, 3, 4):
        raise InvalidInputError(
            f"{where}: an image tensor has shape (H, W), (C, H, W) or (N, C, H, W) with C in 1, 3, 4 "
            f"(channels first); got {tuple(tensor.shape)}"
        )
    return [TensorSource(image, where if len(values) == 1 else f"{where}[{j}]") for j, image in enumerate(values)]


def _sources(item: Any, where: str, stack: ExitStack, max_pixels: int) -> list:
    """The images of one item; a file or bytes stays open (in ``stack``) until its crop is rendered."""
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise MissingFileError(f"{where}: no image file at {str(path)!r}", path)
        image = stack.enter_context(open_image(path, where, max_pixels=max_pixels))
        return [PilSource(image, f"{where} ({path})", max_pixels=max_pixels, may_draft=True)]
    if isinstance(item, (bytes, bytearray, memoryview)):
        image = stack.enter_context(open_image(bytes(item), where, max_pixels=max_pixels))
        return [PilSource(image, where, max_pixels=max_pixels, may_draft=True)]
    if isinstance(item, Image.Image):
        if is_lazy(item):  # still to be decoded: as a file is
            filename = getattr(item, "filename", "")
            stack.enter_context(decode_errors(where, Path(filename) if filename else None, max_pixels=max_pixels,
                                              what="the PIL image is"))
        return [PilSource(item, where, max_pixels=max_pixels)]
    if isinstance(item, np.ndarray):
        return _numpy_sources(item, where)
    if isinstance(item, torch.Tensor):
        return _tensor_sources(item, where)
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


def _crop_resize(source: Any, box: Any, size: tuple[int, int]) -> tuple[torch.Tensor, Crop]:
    height, width, where = source.height, source.width, source.where
    if height < MIN_IMAGE_SIDE or width < MIN_IMAGE_SIDE:
        raise InvalidInputError(
            f"{where}: the image is {width}×{height} pixels; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} expected"
        )
    crop_box = centre_box(height, width) if box is None else _check_box(box, height, width, where)
    crop = source.render(crop_box, size)
    record = Crop(image_size=(height, width), box=crop_box, size=size, centred=box is None)
    if tuple(crop.shape[-2:]) == tuple(size):
        return crop, record
    resized = F.interpolate(crop[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0]
    return resized.clamp(0, 1), record


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
def photo_batch(
    images: Any,
    size: int | tuple[int, int],
    *,
    box: Box | Sequence[Box | None] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    max_pixels: int = MAX_PIXELS,
) -> PhotoBatch:
    """:func:`load_images`, with a :class:`Crop` for each image (what :func:`panda_viz.invert` records).

    Parameters and errors are :func:`load_images`'s.
    """
    size = _check_size(size)
    max_pixels = check_int("max_pixels", max_pixels, low=1)
    device = check_device(device, allow_none=True) or torch.device("cpu")
    dtype = dtype or torch.float32
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidInputError(f"dtype must be a floating-point torch dtype; got {describe(dtype)}")
    if size[0] * size[1] > max_pixels:
        raise ResourceLimitError(f"size {size} asks for {size[0] * size[1]:,} pixels an image; the limit is "
                                f"{max_pixels:,} (raise it with max_pixels=)")
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise InvalidInputError("images: expected at least one image; got an empty sequence")
    n = sum(_count(item) for item in items)
    boxes = iter(_boxes(box, n))
    each, what = 3 * size[0] * size[1], f"load_images: {n} images of size {size}"
    # the float32 batch on the CPU, and the result in dtype on the device (on the CPU, a second copy);
    # while an image is resized, its float output and the resize's half-way image besides
    on_cpu = 4 * each + (each * dtype.itemsize if device.type == "cpu" and dtype != torch.float32 else 0)
    check_memory(what, n, on_cpu, device="cpu", unit="images", working_bytes=2 * 4 * each)
    if device.type != "cpu":
        check_memory(what, n, each * dtype.itemsize, device=device, unit="images")
    crops: list[Crop] = []
    with memory_errors(what):
        batch = torch.empty(n, 3, *size)
        for i, item in enumerate(items):
            where = f"images[{i}]" if isinstance(images, (list, tuple)) else "images"
            with ExitStack() as stack:  # a file is closed as soon as its crop is read
                for source in _sources(item, where, stack, max_pixels):
                    batch[len(crops)], crop = _crop_resize(source, next(boxes), size)
                    crops.append(crop)
        images = batch.mul_(2).sub_(1).to(device=device, dtype=dtype)
    return PhotoBatch(images=images, crops=tuple(crops))


def load_images(
    images: Any,
    size: int | tuple[int, int],
    *,
    box: Box | Sequence[Box | None] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    max_pixels: int = MAX_PIXELS,
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
    max_pixels : int
        The most pixels an image file, encoded bytes or a not-yet-loaded PIL image may
        declare (default :data:`MAX_PIXELS`, 64 megapixels), and the most an output image
        may have. Raise it for larger photos (Pillow's own ``PIL.Image.MAX_IMAGE_PIXELS``
        applies too).

    Returns
    -------
    Tensor (N, 3, height, width) in [-1, 1]

    Raises
    ------
    InvalidInputError
        An empty input or image, NaN or out-of-range values, an image smaller than
        :data:`MIN_IMAGE_SIDE` pixels, a box outside the image, bytes that are not an
        image, an unknown or absent ``device``, a ``size`` past ``max_pixels``.
    ResourceLimitError (an InvalidInputError)
        Bytes or an in-memory image declaring more than ``max_pixels``; a batch that does
        not fit in the memory free on the CPU or the device.
    InvalidFileError
        A file that is not an image, or that is truncated or corrupt; ``.path`` names it.
    FileLimitError (an InvalidFileError)
        A file that declares more than ``max_pixels`` pixels (nothing is decoded).
    MissingFileError
        A path with no file (a ``FileNotFoundError``).
    InvalidTypeError
        Something that is not an image at all.
    """
    return photo_batch(images, size, box=box, device=device, dtype=dtype, max_pixels=max_pixels).images


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
