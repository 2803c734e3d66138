"""Images as sources a crop is read from band by band: a large image is never held as floats whole.

A source (a PIL image, a NumPy array (H, W, C), a tensor (C, H, W)) knows its upright size
and :meth:`renders <PilSource.render>` a crop box as (3, h, w) float32 in [0, 1] over white.
It converts the crop a band of rows at a time (at most :data:`BAND_BYTES` of floats), and a
crop of more than :data:`LARGE_IMAGE_PIXELS` pixels that is much larger than the output is
averaged over ``factor × factor`` blocks band by band (:func:`reduction_factor`), so the
floats held at once are a band plus a result at most about four times the output's side.
A large JPEG is decoded reduced besides (Pillow's ``draft``: 1/2, 1/4 or 1/8 of its size),
and only the crop of an image with an EXIF orientation is turned upright.

Images no larger than :data:`LARGE_IMAGE_PIXELS` are read exactly as before this module
existed: converted whole, with no block averaging and no draft decoding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..exceptions import InvalidInputError, NonFiniteError
from .decoding import (
    check_pixels,
    is_lazy,
    orientation,
    stored_box,
    turn_upright,
    upright_size,
)
from .pil_modes import composite, rgb_floats, value_scale

__all__ = ["LARGE_IMAGE_PIXELS", "DRAFT_GAP", "BAND_BYTES", "reduction_factor", "banded", "PilSource", "ArraySource",
           "TensorSource", "channels_to_rgb"]

#: Crops with more pixels than this (2048 × 2048) are block-averaged before the final resize,
#: and JPEGs with more are decoded reduced; smaller ones are read whole.
LARGE_IMAGE_PIXELS = 1 << 22

#: A JPEG is decoded at 1/d of its size only when the crop stays at least this many times the output's side.
DRAFT_GAP = 8

#: The most bytes of floats one band of a crop takes while it is converted.
BAND_BYTES = 8 << 20

Box = tuple[int, int, int, int]


def reduction_factor(crop: tuple[int, int], out: tuple[int, int]) -> int:
    """The block side a crop (h, w) is averaged over before it is resized to ``out`` (h, w).

    1 for a crop of at most :data:`LARGE_IMAGE_PIXELS` pixels; else the largest factor that
    still leaves the crop at least twice the output on each side (the final antialiased
    resize then still reduces, as Pillow's ``reducing_gap=2`` does).
    """
    (h, w), (oh, ow) = crop, out
    if h * w <= LARGE_IMAGE_PIXELS:
        return 1
    return max(1, int(min(h / oh, w / ow) // 2))


def _edges(length: int, blocks: int) -> np.ndarray:
    """Where each of ``blocks`` equal blocks of ``length`` pixels starts, and the end: sides of ⌊length / blocks⌋ or one more."""
    return np.arange(blocks + 1) * length // blocks


def banded(render_band: Callable[[int, int], torch.Tensor], height: int, width: int, factor: int) -> torch.Tensor:
    """Rows 0 … height of a crop, rendered ``render_band(y0, y1) -> (3, y1 - y0, width)`` a band at a time,
    each band averaged over blocks about ``factor`` pixels wide before the next is rendered.

    With ``factor`` > 1 the crop is divided into ⌊height / factor⌋ × ⌊width / factor⌋ blocks
    of equal size to within a pixel (their sides are ``factor`` or ``factor + 1`` pixels), so
    the result is a uniform grid over the whole crop, as a resize to that size would make.

    Returns
    -------
    Tensor (3, height, width), or (3, ⌊height / factor⌋, ⌊width / factor⌋) float32
    """
    if factor == 1:
        rows = max(1, BAND_BYTES // (12 * width))
        if rows >= height:
            return render_band(0, height)
        out = torch.empty(3, height, width)
        for y0 in range(0, height, rows):
            out[:, y0:y0 + rows] = render_band(y0, min(height, y0 + rows))
        return out
    row_edges, col_edges = _edges(height, height // factor), _edges(width, width // factor)
    col_sides = np.diff(col_edges).astype(np.float32)
    per_band = max(1, BAND_BYTES // (12 * width * (factor + 1)))  # blocks of rows per band
    out = torch.empty(3, len(row_edges) - 1, len(col_edges) - 1)
    for i0 in range(0, len(row_edges) - 1, per_band):
        i1 = min(len(row_edges) - 1, i0 + per_band)
        y0, y1 = int(row_edges[i0]), int(row_edges[i1])
        band = render_band(y0, y1).numpy()
        sums = np.add.reduceat(np.add.reduceat(band, col_edges[:-1], axis=2), row_edges[i0:i1] - y0, axis=1)
        sides = np.diff(row_edges[i0:i1 + 1]).astype(np.float32)
        out[:, i0:i1] = torch.from_numpy(sums / (sides[:, None] * col_sides[None, :]))
    return out


def channels_to_rgb(image: torch.Tensor, where: str) -> torch.Tensor:
    """(C, H, W) in [0, 1] with C in 1, 3, 4 to (3, H, W); four channels are RGBA over white."""
    channels = image.shape[0]
    if channels == 1:
        return image.expand(3, *image.shape[1:]).clone()
    if channels == 3:
        return image
    if channels == 4:
        return composite(image[:3], image[3:4])
    raise InvalidInputError(f"{where}: an image has 1, 3 or 4 channels; got {channels} (shape {tuple(image.shape)})")


def check_values(array: np.ndarray | torch.Tensor, low: float, high: float, where: str, what: str) -> None:
    """Finite values in [low, high], checked from the extremes (NaN propagates through min and max): no copy."""
    lo, hi = float(array.min()), float(array.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise NonFiniteError(f"{where}: the image has NaN or infinite values")
    if lo < low or hi > high:
        raise InvalidInputError(f"{where}: {what} must have values in [{low:g}, {high:g}]; got values in [{lo:g}, {hi:g}]")


# --------------------------------------------------------------------------- sources
class PilSource:
    """A PIL image; decoded (if it is lazy) only when a crop is rendered.

    Parameters
    ----------
    image : PIL.Image.Image
    where : str
        Names the image in messages.
    max_pixels : int
        The pixel budget of an image still to be decoded (a loaded image is already in memory).
    may_draft : bool
        Whether a large JPEG may be decoded reduced: True for images this package opened,
        False for a caller's object (``draft`` changes it).
    """

    def __init__(self, image, where: str, *, max_pixels: int, may_draft: bool = False) -> None:
        if is_lazy(image):
            filename = getattr(image, "filename", "")
            check_pixels(*image.size, where, max_pixels=max_pixels, path=Path(filename) if filename else None)
        self.image, self.where, self.may_draft = image, where, may_draft
        self.turn = orientation(image)
        self.height, self.width = upright_size(image.size, self.turn)

    def _drafted(self, box: Box, out: tuple[int, int]) -> Box:
        """Decode a large JPEG at 1/2, 1/4 or 1/8 scale when the crop stays :data:`DRAFT_GAP` times ``out``; the box scaled."""
        image = self.image
        if not (self.may_draft and is_lazy(image) and image.format in ("JPEG", "MPO")
                and image.width * image.height > LARGE_IMAGE_PIXELS):
            return box
        left, top, right, bottom = box
        shrink = min((bottom - top) / out[0], (right - left) / out[1])
        # the box is rounded to the reduced image's pixels: at most half of one, 1/16 of an output pixel
        scale = next((d for d in (8, 4, 2) if d <= shrink / DRAFT_GAP), 1)
        width, height = image.size
        if scale == 1 or image.draft(image.mode, (width // scale, height // scale)) is None:
            return box
        sx, sy = image.width / width, image.height / height
        left, top = min(round(left * sx), image.width - 1), min(round(top * sy), image.height - 1)
        return left, top, max(left + 1, min(image.width, round(right * sx))), max(top + 1, min(image.height, round(bottom * sy)))

    def render(self, box: Box, out: tuple[int, int]) -> torch.Tensor:
        """The upright crop ``box`` (left, top, right, bottom) as (3, h, w) in [0, 1], reduced for ``out`` (h, w)."""
        stored_out = (out[1], out[0]) if self.turn in (5, 6, 7, 8) else out
        box = self._drafted(stored_box(box, self.turn, self.image.size), stored_out)
        self.image.load()
        region = self.image
        if self.turn != 1:  # only the crop is turned upright
            region = turn_upright(region.crop(box), self.turn)
            box = (0, 0, region.width, region.height)
        left, top, right, bottom = box
        scale = value_scale(region)
        factor = reduction_factor((bottom - top, right - left), out)
        return banded(lambda y0, y1: rgb_floats(region.crop((left, top + y0, right, top + y1)), self.where, scale=scale),
                      bottom - top, right - left, factor)


class ArraySource:
    """A NumPy image (H, W, C), channels last, C in 1, 3, 4: ``uint8``, ``uint16``, ``bool`` or floats in [0, 1]."""

    def __init__(self, array: np.ndarray, where: str) -> None:
        self.array, self.where = array, where
        self.height, self.width = array.shape[:2]

    def _floats(self, part: np.ndarray) -> torch.Tensor:
        dtype = part.dtype
        if dtype == np.bool_:
            values = part.astype(np.float32)
        elif dtype == np.uint8:
            values = part.astype(np.float32) / 255.0
        elif dtype == np.uint16:
            values = part.astype(np.float32) / 65535.0
        else:
            values = part.astype(np.float32)
        return channels_to_rgb(torch.from_numpy(np.ascontiguousarray(values)).permute(2, 0, 1), self.where)

    def render(self, box: Box, out: tuple[int, int]) -> torch.Tensor:
        left, top, right, bottom = box
        view = self.array[top:bottom, left:right]
        factor = reduction_factor((bottom - top, right - left), out)
        return banded(lambda y0, y1: self._floats(view[y0:y1]), bottom - top, right - left, factor)


class TensorSource:
    """A tensor image (C, H, W) on the CPU, channels first: ``uint8``, ``bool`` or floats in [-1, 1]."""

    def __init__(self, tensor: torch.Tensor, where: str) -> None:
        self.tensor, self.where = tensor, where
        self.height, self.width = tensor.shape[1:]

    def _floats(self, part: torch.Tensor) -> torch.Tensor:
        if part.dtype == torch.uint8:
            values = part.float() / 255.0
        elif part.dtype == torch.bool:
            values = part.float()
        else:
            values = (part.float() + 1) / 2
        return channels_to_rgb(values, self.where)

    def render(self, box: Box, out: tuple[int, int]) -> torch.Tensor:
        left, top, right, bottom = box
        view = self.tensor[:, top:bottom, left:right]
        factor = reduction_factor((bottom - top, right - left), out)
        return banded(lambda y0, y1: self._floats(view[:, y0:y1]), bottom - top, right - left, factor)
