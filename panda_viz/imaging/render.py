"""Pure numpy/torch image compositing: overlays, heat maps, masks, grids and PNG bytes.

Everything here is a plain function of arrays, shared by the demo, the widgets and the
notebooks. Images are ``uint8`` arrays (H, W, 3) unless a docstring says otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from PIL import Image

from .._checks import check_float, check_int, is_int
from ..exceptions import InvalidInputError
from ..fileio.atomic import atomic_path

__all__ = [
    "to_uint8",
    "upsample",
    "normalize_maps",
    "part_colors",
    "color_parts",
    "overlay_parts",
    "heatmap",
    "difference_heatmap",
    "overlay_heatmap",
    "apply_mask",
    "amplified_difference",
    "mask_image",
    "framed",
    "grid",
    "outline_region",
    "png_bytes",
    "save_png",
]


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return x.detach().cpu().float() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Generator images in [-1, 1] to ``uint8`` RGB.

    Parameters
    ----------
    images : (N, 3, H, W) or (3, H, W)

    Returns
    -------
    ndarray, uint8, (N, H, W, 3) or (H, W, 3)
    """
    x = _as_tensor(images)
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise InvalidInputError(f"images of shape (N, 3, H, W) or (3, H, W) expected; got {tuple(x.shape)}")
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def upsample(maps: torch.Tensor | np.ndarray, size: int | tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """Resize maps (..., h, w) to ``size`` (H, W); ``mode`` as in ``F.interpolate``."""
    x = _as_tensor(maps)
    size = (int(size), int(size)) if is_int(size) else tuple(size)
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, *x.shape[-2:])
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    out = F.interpolate(flat, size=size, mode=mode, **kwargs)
    return out.reshape(*lead, *size).numpy()


def normalize_maps(maps: torch.Tensor | np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Min-max normalise each map (..., h, w) to [0, 1] (a constant map becomes zeros)."""
    x = _as_tensor(maps)
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    return ((x - lo) / (hi - lo).clamp_min(eps)).numpy()


def part_colors(n: int) -> np.ndarray:
    """``n`` distinct RGB colours (n, 3) in [0, 1], from matplotlib's qualitative maps."""
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return np.array([cmap(i % cmap.N)[:3] for i in range(n)], dtype=np.float32)


def color_parts(parts: torch.Tensor | np.ndarray, size: tuple[int, int] | None = None,
                visible: Sequence[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Colour each pixel by its strongest part.

    Parameters
    ----------
    parts : (R, h, w), non-negative
    size : (H, W), optional
        Output size (bilinear upsampling of the parts first).
    visible : sequence of R bools, optional
        Parts switched off are left uncoloured.

    Returns
    -------
    colours : ndarray (H, W, 3) float in [0, 1]
    weight : ndarray (H, W) float in [0, 1]: the winning part's normalised strength
    """
    p = _as_tensor(parts)
    if p.ndim != 3:
        raise InvalidInputError(f"parts of shape (R, h, w) expected; got {tuple(p.shape)}")
    maps = normalize_maps(p)
    if size is not None:
        maps = upsample(maps, size)
    visible_mask = np.ones(len(maps), bool) if visible is None else np.asarray(visible, bool)
    if visible_mask.shape != (len(maps),):
        raise InvalidInputError(f"visible must have one entry per part ({len(maps)}); got {visible_mask.shape[0]}")
    winner = maps.argmax(0)
    weight = np.take_along_axis(maps, winner[None], 0)[0].clip(0, 1)
    weight = weight * visible_mask[winner]
    return part_colors(len(maps))[winner], weight


def overlay_parts(image: np.ndarray, parts: torch.Tensor | np.ndarray, *, opacity: float = 0.5,
                  visible: Sequence[bool] | None = None) -> np.ndarray:
    """Blend the parts' colours over ``image`` (H, W, 3) uint8; returns uint8 (H, W, 3)."""
    image = np.asarray(image)
    colours, weight = color_parts(parts, image.shape[:2], visible)
    a = (float(opacity) * weight)[..., None]
    return ((1 - a) * image + a * 255 * colours).round().clip(0, 255).astype(np.uint8)


def heatmap(values: torch.Tensor | np.ndarray, *, cmap: str = "viridis", vmin: float | None = None,
            vmax: float | None = None) -> np.ndarray:
    """A map (H, W) as colours, uint8 (H, W, 3), scaled to [vmin, vmax] (default: its range)."""
    v = _as_tensor(values).numpy()
    lo = v.min() if vmin is None else vmin
    hi = v.max() if vmax is None else vmax
    scaled = np.clip((v - lo) / max(hi - lo, 1e-12), 0, 1)
    return (colormaps[cmap](scaled)[..., :3] * 255).round().astype(np.uint8)


def difference_heatmap(original: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """|edited − original| (mean over RGB) of two uint8 images as a magma heat map, scaled to
    [0, its maximum] (at least 1, so an unchanged image stays black)."""
    diff = np.abs(np.asarray(edited, np.float32) - np.asarray(original, np.float32)).mean(-1)
    return heatmap(diff, vmin=0, vmax=max(float(diff.max()), 1.0), cmap="magma")


def overlay_heatmap(image: np.ndarray, values: torch.Tensor | np.ndarray, *, opacity: float = 0.6,
                    cmap: str = "inferno", vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """A heat map (h, w) upsampled to ``image`` (H, W, 3) and blended over it.

    ``vmin``/``vmax`` as in :func:`heatmap` (e.g. ``-m, m`` with ``cmap="coolwarm"`` for a
    signed map, so zero stays the neutral colour).
    """
    image = np.asarray(image)
    hm = heatmap(upsample(values, image.shape[:2]), cmap=cmap, vmin=vmin, vmax=vmax)
    return ((1 - opacity) * image + opacity * hm).round().astype(np.uint8)


def apply_mask(image: np.ndarray, mask: np.ndarray | torch.Tensor, *, fill: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Keep ``image`` where ``mask`` (H, W) in [0, 1] is 1, ``fill`` where it is 0."""
    image = np.asarray(image).astype(np.float32)
    m = _as_tensor(mask).numpy()
    if m.shape != image.shape[:2]:
        m = upsample(m, image.shape[:2], mode="nearest")
    m = m[..., None]
    return (m * image + (1 - m) * np.asarray(fill, np.float32)).round().astype(np.uint8)


def amplified_difference(original: np.ndarray, edited: np.ndarray, *, gain: float = 8.0) -> np.ndarray:
    """|edited − original| × ``gain`` of two uint8 images (H, W, 3), as a magma heat map.

    The scale is fixed, not fitted to the image: black is no change and the brightest
    colour is a change of 255 / ``gain`` levels (mean over RGB) or more, so a weak edit
    looks weak. Returns uint8 (H, W, 3).
    """
    gain = check_float("gain", gain)
    original, edited = np.asarray(original), np.asarray(edited)
    if original.shape != edited.shape or original.ndim != 3:
        raise InvalidInputError(f"two images (H, W, 3) of one shape expected; got {original.shape} and {edited.shape}")
    diff = np.abs(edited.astype(np.float32) - original.astype(np.float32)).mean(-1)
    return heatmap(diff * gain, vmin=0, vmax=255, cmap="magma")


def mask_image(mask: np.ndarray | torch.Tensor, *, color: Sequence[int] = (31, 119, 180),
               background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """A binary mask (H, W) as an image: ``color`` where it is set, ``background`` elsewhere.

    The default colour (matplotlib's tab:blue) reads on a white page, where a white mask
    would not. Returns uint8 (H, W, 3).
    """
    m = _as_tensor(mask).numpy() > 0.5
    if m.ndim != 2:
        raise InvalidInputError(f"a mask of shape (H, W) expected; got {m.shape}")
    return np.where(m[..., None], np.asarray(color, np.uint8), np.asarray(background, np.uint8)).astype(np.uint8)


def framed(image: np.ndarray, *, width: int = 2, color: Sequence[int] = (96, 96, 96)) -> np.ndarray:
    """``image`` (H, W, 3) inside a frame ``width`` pixels wide, added around it (nothing of the
    image is covered), so its extent shows on a page of the same colour as its edges.

    Returns uint8 (H + 2·width, W + 2·width, 3).
    """
    width = check_int("width", width, low=1)
    image = np.asarray(image, np.uint8)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InvalidInputError(f"an image of shape (H, W, 3) expected; got {image.shape}")
    out = np.empty((image.shape[0] + 2 * width, image.shape[1] + 2 * width, 3), np.uint8)
    out[...] = np.asarray(color, np.uint8)
    out[width:-width, width:-width] = image
    return out


def outline_region(image: np.ndarray, region: np.ndarray | torch.Tensor, *, color: Sequence[float] = (1.0, 1.0, 1.0),
                   threshold: float = 0.5) -> np.ndarray:
    """Draw the outline of ``region > threshold`` over ``image``, one pixel wide, in ``color``.

    Parameters
    ----------
    image : ndarray (H, W, 3) uint8
    region : (h, w) in [0, 1]
        A part's map or a mask; upsampled (bilinear) to (H, W) first when smaller.
    color : 3 floats in [0, 1]
        The outline's colour (e.g. the part's overlay colour, :func:`part_colors`).
    threshold : float
        The region is where the map exceeds it.

    Returns
    -------
    ndarray (H, W, 3) uint8
        A copy of ``image`` with the region's boundary pixels (inside it, with a 4-neighbour
        outside it; the image's border does not count as outside) coloured.
    """
    image = np.asarray(image)
    r = _as_tensor(region)
    if r.ndim != 2 or image.ndim != 3:
        raise InvalidInputError(f"outline_region: an image (H, W, 3) and a region (h, w) expected; "
                                f"got {image.shape} and {tuple(r.shape)}")
    m = upsample(r, image.shape[:2]) if tuple(r.shape) != image.shape[:2] else r.numpy()
    inside = m > float(threshold)
    padded = np.pad(inside, 1, mode="edge")
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    out = image.copy()
    out[inside & ~interior] = (np.clip(np.asarray(color, np.float32), 0, 1) * 255).round().astype(np.uint8)
    return out


def grid(images: Sequence[np.ndarray] | np.ndarray, *, ncols: int | None = None, pad: int = 2,
         pad_value: int = 255) -> np.ndarray:
    """Tile equally sized uint8 images (H, W, 3) row-major into one image."""
    images = [np.asarray(im) for im in images]
    if not images:
        raise InvalidInputError("grid needs at least one image; got an empty sequence")
    h, w = images[0].shape[:2]
    if any(im.shape != images[0].shape for im in images):
        raise InvalidInputError(f"grid needs images of one shape; got {sorted({im.shape for im in images})}")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), pad_value, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = im if im.ndim == 3 else im[..., None]
    return out


def png_bytes(image: np.ndarray, *, scale: int = 1) -> bytes:
    """Encode uint8 (H, W, 3) as PNG, optionally enlarged ``scale`` times (nearest)."""
    pil = Image.fromarray(np.asarray(image, np.uint8))
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(image: np.ndarray, path: str | Path, *, scale: int = 1) -> Path:
    """Write ``image`` as a PNG atomically; returns the path."""
    data = png_bytes(image, scale=scale)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
