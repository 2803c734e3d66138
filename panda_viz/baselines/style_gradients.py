"""Gradient maps of a style-based generator's images with respect to its style channels.

StyleSpace (Wu et al., CVPR 2021) finds the channels of S that control a region from the
gradient of the image, average-pooled to ``out_size``² (official ``invert_mask.py``:
``AveragePooling2D(pool_size=img_size / 32)``), with respect to every style channel s_c:
a map ∂x↓/∂s_c of shape (3, out, out) per channel and image.

Two ways compute the same maps:

- ``method="forward"`` (default): forward-mode products ``J e_c`` (``torch.func.jvp``),
  vmapped over a chunk of one layer's channels; one tangent e_c serves every image of a
  batch at once (the images are independent). The cost is one product per style channel,
  whatever ``out_size``: ΣC passes, a few hundred on the test generators, 6,048 on a
  1024-pixel StyleGAN2.
- ``method="reverse"``: the official formulation, one reverse pass per output value
  (``tensorflow``'s ``compute_gradient`` on the pooled image builds the Jacobian row by
  row): 3·out² = 3,072 backward passes, each giving every layer's channels at once. Here
  one forward pass is kept for all of them (``retain_graph``) and the images of a batch
  share each backward pass; ``batch_size=1`` is the official one image at a time.

Which is cheaper depends on ΣC against 3·out²; ``benchmarks/bench_stylespace.py`` times
both on a test generator.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int
from ..exceptions import InvalidInputError, InvalidTypeError
from ..generators.inverted import Inversion
from ..generators.styles import check_style_layers, read_styles, replace_styles
from ..runtime.progress import progress as _progress

__all__ = ["GRADIENT_METHODS", "pool_images", "check_out_size", "style_gradients", "iter_style_gradients"]

#: How :func:`style_gradients` differentiates: forward-mode products per channel, or the
#: official one reverse pass per output value.
GRADIENT_METHODS = ("forward", "reverse")


def check_out_size(out_size, image_hw: tuple[int, int]) -> int:
    """``out_size`` validated: a positive int dividing the image's height and width."""
    h, w = image_hw
    out_size = check_int("out_size (official: 32)", out_size, low=1)
    if h % out_size or w % out_size:
        raise InvalidInputError(
            f"out_size {out_size} must divide the image size {h}×{w} (the official code average-pools by "
            f"image size / out_size); pass out_size= a divisor of {h} and {w}"
        )
    return out_size


def pool_images(images: torch.Tensor, out_size: int) -> torch.Tensor:
    """Average-pool images (N, C, H, W) to (N, C, out_size, out_size) in non-overlapping blocks
    (the official ``AveragePooling2D(pool_size=H / out_size, strides=pool_size)``)."""
    h, w = images.shape[-2:]
    if (h, w) == (out_size, out_size):
        return images
    return F.avg_pool2d(images, kernel_size=(h // out_size, w // out_size))


def _check_options(generator, method, batch_size, chunk_size, out_size) -> int:
    check_choice("method", method, GRADIENT_METHODS)
    for name, value in (("batch_size", batch_size), ("chunk_size", chunk_size)):
        check_int(name, value, low=1, allow_none=True)
    return check_out_size(out_size, tuple(generator.image_shape[1:]))


def _check_channels(chosen: dict[str, int], channels) -> list[int] | None:
    if channels is None:
        return None
    if len(chosen) != 1:
        raise InvalidInputError(f"channels= selects channels of one style layer; layers names {len(chosen)}")
    (layer, c), = chosen.items()
    try:
        picked = [int(i) for i in channels]
    except (TypeError, ValueError):
        raise InvalidTypeError(f"channels must be a list of ints; got {channels!r}") from None
    if not picked or any(isinstance(i, bool) or not 0 <= int(i) < c for i in channels):
        raise InvalidInputError(f"channels of style layer {layer!r} must be a non-empty list of ints in [0, {c - 1}]; got {channels!r}")
    return picked


def iter_style_gradients(
    generator,
    latents: torch.Tensor,
    *,
    layers=None,
    channels=None,
    out_size: int = 32,
    method: str = "forward",
    batch_size: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
) -> Iterator[tuple[slice, dict[str, torch.Tensor]]]:
    """:func:`style_gradients` batch of images by batch: ``(slice of the latents, {layer: maps})``.

    For many images, where the maps of all of them would not fit in memory (N·ΣC·3·out²
    floats): :func:`panda_viz.baselines.stylespace` reduces each batch to votes.
    Arguments as in :func:`style_gradients`.
    """
    chosen = check_style_layers(generator, layers)
    picked = _check_channels(chosen, channels)
    out_size = _check_options(generator, method, batch_size, chunk_size, out_size)
    if isinstance(latents, Inversion):
        raise InvalidTypeError("style gradients take latents (N, *latent_shape), not an Inversion (use its .latents)")
    latents = generator.check_latents(latents)
    n = len(latents)
    per_pass = generator.batch_size_for()
    # a reverse pass keeps its forward pass's graph: about twice a pass's memory
    batch = min(n, batch_size or (per_pass if method == "forward" else max(1, per_pass // 2)))
    starts = range(0, n, batch)
    desc = f"style gradients ({method})"
    for start in _progress(starts, total=len(starts), enabled=progress, n_samples=n * 100, desc=desc):
        part = slice(start, min(start + batch, n))
        z = latents[part]
        styles = read_styles(generator, z, layers=list(chosen), batch_size=len(z))
        if method == "forward":
            chunk = chunk_size or max(1, per_pass // len(z))
            yield part, {layer: _forward_maps(generator, z, layer, s, out_size, chunk, picked) for layer, s in styles.items()}
        else:
            maps = _reverse_maps(generator, z, styles, out_size)
            yield part, maps if picked is None else {layer: m[:, picked] for layer, m in maps.items()}


def style_gradients(
    generator,
    latents: torch.Tensor,
    *,
    layers=None,
    channels=None,
    out_size: int = 32,
    method: str = "forward",
    batch_size: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
) -> dict[str, torch.Tensor]:
    """The gradients of the pooled images with respect to every channel of the style layers.

    Parameters
    ----------
    generator : Generator
        Style-based (:func:`panda_viz.generators.styles.style_layers`).
    latents : Tensor (N, *latent_shape)
    layers : str or list of str, optional
        Style layers (default every non-ToRGB one, as the official code).
    channels : list of int, optional
        With one layer: only these of its channels (e.g. to show a channel's map); the
        forward mode then computes only their products.
    out_size : int
        The pooled image's size (official 32); it must divide the image size.
    method : {"forward", "reverse"}
        Forward-mode products per channel (default) or the official one reverse pass per
        output value (see the module docstring). Both give the same maps up to rounding.
    batch_size : int, optional
        Images per pass (default: as many as fit the generator's memory budget;
        ``batch_size=1`` with ``method="reverse"`` is exactly the official loop).
    chunk_size : int, optional
        Forward mode: channels per vmapped product (default: the memory budget's samples
        per pass divided by the images per pass).
    progress : bool, optional

    Returns
    -------
    dict of str to Tensor (N, C, 3, out_size, out_size)
        Per style layer: ``maps[i, c] = ∂ pool(G(z_i)) / ∂ s_{i,c}``, at the styles the
        latents give, on the generator's device (C = ``len(channels)`` when given).
    """
    parts: dict[str, list[torch.Tensor]] = {}
    for _part, maps in iter_style_gradients(
        generator, latents, layers=layers, channels=channels, out_size=out_size, method=method,
        batch_size=batch_size, chunk_size=chunk_size, progress=progress,
    ):
        for layer, value in maps.items():
            parts.setdefault(layer, []).append(value)
    return {layer: torch.cat(values) for layer, values in parts.items()}


def _forward_maps(
    generator, z: torch.Tensor, layer: str, styles: torch.Tensor, out_size: int, chunk: int, picked: list[int] | None
) -> torch.Tensor:
    """(n, C, 3, out, out): one vmapped jvp per chunk of ``layer``'s channels, all n images at once."""
    n, c = styles.shape

    def pooled(s: torch.Tensor) -> torch.Tensor:
        with replace_styles(generator, {layer: lambda _s: s}):
            return pool_images(generator.synthesize(z, batch_size=n, progress=False), out_size)

    def product(tangent: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(pooled, (styles,), (tangent,))[1]

    eye = torch.eye(c, dtype=styles.dtype, device=styles.device)
    if picked is not None:
        eye = eye[picked]
    out = []
    with warnings.catch_warnings():
        # torch.func's forward-mode batching rules call torch.jit.script internally (torch 2.13)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
        for start in range(0, len(eye), chunk):
            tangents = eye[start : start + chunk, None, :].expand(-1, n, c)  # e_c for every image
            out.append(torch.func.vmap(product)(tangents).detach())
    return torch.cat(out).transpose(0, 1)


def _reverse_maps(generator, z: torch.Tensor, styles: dict[str, torch.Tensor], out_size: int) -> dict[str, torch.Tensor]:
    """{layer: (n, C, 3, out, out)}: one backward pass per pooled output value, all layers at once."""
    leaves = {layer: s.detach().clone().requires_grad_(True) for layer, s in styles.items()}
    with replace_styles(generator, {layer: (lambda _s, v=leaf: v) for layer, leaf in leaves.items()}):
        pooled = pool_images(generator.synthesize(z, batch_size=len(z), grad=True, progress=False), out_size)
    flat = pooled.flatten(1)  # (n, 3·out·out)
    maps = {layer: torch.zeros(*leaf.shape, flat.shape[1], dtype=leaf.dtype, device=leaf.device) for layer, leaf in leaves.items()}
    inputs = list(leaves.values())
    for k in range(flat.shape[1]):
        # the images are independent, so the sum's gradient holds each image's own row
        grads = torch.autograd.grad(flat[:, k].sum(), inputs, retain_graph=k + 1 < flat.shape[1], allow_unused=True)
        for layer, grad in zip(leaves, grads, strict=True):
            if grad is not None:
                maps[layer][:, :, k] = grad
    channels = pooled.shape[1]
    return {layer: m.reshape(*m.shape[:2], channels, out_size, out_size) for layer, m in maps.items()}
