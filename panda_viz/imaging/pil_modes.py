"""Every Pillow mode that holds an image, as RGB floats in [0, 1] composited over white.

:func:`rgb_floats` turns a (small) region of a PIL image into a tensor (3, h, w) float32:

======================================  ====================================================
mode                                    how
======================================  ====================================================
``1``, ``L``, ``P``, ``RGB``, ``RGBX``, ``convert("RGB")``, then ÷ 255 (Pillow's own colour
``CMYK``, ``YCbCr``, ``LAB``, ``HSV``   conversions: LAB through LittleCMS, CMYK naively)
``LA``, ``PA``, ``RGBA``, and ``P``,    ``convert("RGBA")`` (palettes expanded, the
``L``, ``RGB``, ``1`` with a            transparent colour or index made alpha), then
``transparency``                        composited over :data:`BACKGROUND` (white)
``La``, ``RGBa`` (premultiplied)        colour + (1 − alpha): the colour is already
                                        multiplied by alpha (Pillow cannot convert ``La``)
``I;16``, ``I;16L``, ``I;16B``,         ÷ 65535 (16-bit data: Pillow's ``convert("RGB")``
``I;16N``                               would clip at 255); a ``transparency`` value is
                                        composited too
``I`` (32-bit integers)                 ÷ 255 when every value lies in 0 … 255 (an 8-bit
                                        image, as ``convert("I")`` makes), else ÷ 65535
                                        (16-bit data); clipped to [0, 1]
``F`` (32-bit floats)                   as they are when every value lies in [0, 1], else
                                        ÷ 255 (Pillow's own scale for ``F``); clipped to
                                        [0, 1]; NaN or infinite values are refused
======================================  ====================================================

The scale of an ``I`` or ``F`` image is decided once from the whole image
(:func:`value_scale`), so every band of it is read alike.

Each function works on whatever region it is given, so a large image is converted band by
band (:mod:`panda_viz.imaging.sources`) and never as a whole.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import is_int
from ..exceptions import InvalidInputError, NonFiniteError

__all__ = ["BACKGROUND", "SIXTEEN_BIT_MODES", "rgb_floats", "value_scale", "composite", "has_alpha"]

#: The background alpha is composited over: white, 1.0 in every channel.
BACKGROUND = 1.0

#: Pillow's 16-bit greyscale modes, scaled by 65535.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_PREMULTIPLIED = ("La", "RGBa")
_ALPHA = ("LA", "PA", "RGBA")
_TRANSPARENT_COLOUR = ("1", "L", "P", "RGB")


def composite(colour: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Straight (not premultiplied) colour (C, h, w) and alpha (1, h, w) in [0, 1] over the background."""
    return colour * alpha + (BACKGROUND - alpha)


def value_scale(image) -> float:
    """What the values of an image in an integer or float mode are divided by (1 for other modes).

    ``I;16*``: 65535. ``I``: 255 when every value lies in 0 … 255, else 65535. ``F``: 1 when
    every value lies in [0, 1], else 255. Decided from the whole image's extremes
    (``getextrema``, no copy), so every band of it is read on the same scale.
    """
    if image.mode in SIXTEEN_BIT_MODES:
        return 65535.0
    if image.mode not in ("I", "F"):
        return 1.0
    low, high = image.getextrema()
    if image.mode == "I":
        return 255.0 if 0 <= low and high <= 255 else 65535.0
    return 1.0 if 0.0 <= low and high <= 1.0 else 255.0


def _grey_to_rgb(grey: torch.Tensor) -> torch.Tensor:
    return grey.expand(3, *grey.shape[-2:]).clone()


def _integers(region, scale: float) -> torch.Tensor:
    raw = np.asarray(region, dtype=np.float64)
    grey = torch.from_numpy(np.clip(raw / scale, 0.0, 1.0)).float()[None]
    transparent = region.info.get("transparency")
    if is_int(transparent):
        alpha = torch.from_numpy(raw != float(transparent)).float()[None]
        return _grey_to_rgb(composite(grey, alpha))
    return _grey_to_rgb(grey)


def _float(region, scale: float, where: str) -> torch.Tensor:
    raw = np.asarray(region, dtype=np.float64)
    if not np.isfinite(raw).all():
        raise NonFiniteError(f"{where}: the float ('F') image has NaN or infinite values")
    return _grey_to_rgb(torch.from_numpy(np.clip(raw / scale, 0.0, 1.0)).float()[None])


def _premultiplied(region) -> torch.Tensor:
    values = torch.from_numpy(np.asarray(region, dtype=np.float32) / 255.0).permute(2, 0, 1)
    colour, alpha = values[:-1], values[-1:]
    out = (colour + (BACKGROUND - alpha)).clamp(0, 1)  # a premultiplied colour above its alpha is invalid: clip
    return _grey_to_rgb(out) if len(out) == 1 else out


def has_alpha(region) -> bool:
    """Whether the region's mode, or its ``transparency`` entry, gives it an alpha channel."""
    return region.mode in _ALPHA or (region.mode in _TRANSPARENT_COLOUR and "transparency" in region.info)


def rgb_floats(region, where: str, *, scale: float | None = None) -> torch.Tensor:
    """A PIL image (or a region cropped from one) as (3, h, w) float32 in [0, 1], over white.

    Parameters
    ----------
    region : PIL.Image.Image
        Any mode; see the module docstring.
    where : str
        Names the image in messages (``"images[2]"``).
    scale : float, optional
        What the values of an ``I``, ``I;16*`` or ``F`` region are divided by:
        :func:`value_scale` of the whole image it was cropped from (default: the region's).

    Raises
    ------
    NonFiniteError
        An ``F`` image with NaN or infinite values.
    InvalidInputError
        A mode Pillow cannot convert to RGB.
    """
    mode = region.mode
    scale = value_scale(region) if scale is None else scale
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        return _integers(region, scale)
    if mode == "F":
        return _float(region, scale, where)
    if mode in _PREMULTIPLIED:
        return _premultiplied(region)
    try:
        if has_alpha(region):
            rgba = torch.from_numpy(np.asarray(region.convert("RGBA"), dtype=np.float32) / 255.0).permute(2, 0, 1)
            return composite(rgba[:3], rgba[3:4])
        rgb = np.asarray(region.convert("RGB"), dtype=np.float32) / 255.0
    except ValueError as error:  # "conversion from … to RGB not supported"
        raise InvalidInputError(f"{where}: a PIL image in mode {mode!r} cannot be converted to RGB ({error})") from None
    return torch.from_numpy(rgb).permute(2, 0, 1)
