"""Saliency maps of the appearance factors, thresholded localisation and background removal.

PandA's appearance basis A (C × K) turns a sample's feature maps Z_i (C × S) into
coordinates Aᵀ Z_i (K × S): row k says how much of appearance k is present at each spatial
position (paper, Sec. 4.1.2). Thresholding row k at μ_k, the mean of concept k over N
samples and all S positions, classifies each position as "concept k or not"
(m̃_ikj = [m_ikj ≥ μ_k]); with the "background" concept that mask removes the background.

:func:`localize` gives the mask and :func:`fill_images`, its wrapper, images with the masked
pixels filled (the pairing :func:`panda_viz.editing.edits.local_edit` / ``edit_images`` follows:
a pure function, then a wrapper taking a generator and latents and returning images).

Every function takes a fitted model (:class:`panda_viz.decomposition.fitted.FittedFactors`, such as
:class:`panda_viz.PandA`), checked by :mod:`panda_viz.decomposition.fitted`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .._checks import is_int
from ..decomposition.fitted import (
    Appearances,
    appearance_indices,
    check_compatible,
    check_features_fit,
    check_fitted,
)
from ..exceptions import InvalidInputError
from ..runtime import distributed

__all__ = ["saliency_maps", "saliency_thresholds", "localize", "fill_images"]


# --------------------------------------------------------------------------- saliency
def saliency_maps(
    model: Any, Z: torch.Tensor, appearances: Appearances = None, *, size: int | tuple[int, int] | None = None
) -> torch.Tensor:
    """Saliency maps m_ik = a_kᵀ Z_i: how much of appearance k is at each position.

    Parameters
    ----------
    model : fitted PandA
        Provides ``appearances_`` A (C, n_appearances).
    Z : Tensor (N, C, H, W)
        Feature maps at the model's layer.
    appearances : int, sequence of int, or None
        Which columns of A (default: all). An int still gives a K = 1 axis.
    size : int or (height, width), optional
        Upsample the maps bilinearly to this size (the generator's image size, e.g. 64),
        as :func:`localize` does before thresholding; default the layer's (H, W).

    Returns
    -------
    Tensor (N, K, H, W), or (N, K, *size)
        On Z's device, in Z's dtype.
    """
    Z = check_features_fit(model, Z)
    index = appearance_indices(model, appearances)
    A = check_fitted(model).appearances_.to(Z.device, Z.dtype)[:, index.to(Z.device)]
    m = torch.einsum("ck,nchw->nkhw", A, Z)
    out_size = _size(size, tuple(m.shape[-2:]))
    if out_size != tuple(m.shape[-2:]):
        m = F.interpolate(m, size=out_size, mode="bilinear", align_corners=False)
    return m


def saliency_thresholds(
    model: Any, Z: torch.Tensor | Iterable[torch.Tensor], appearances: Appearances = None
) -> torch.Tensor:
    """μ_k = (1 / N S) Σ_{n, s} m_nks: the mean of concept k over N samples and S positions.

    Parameters
    ----------
    model : fitted PandA
    Z : Tensor (N, C, H, W), or an iterable of such batches
        The samples to average over (a stream, e.g. ``G.iter_features(z, layer)``, keeps
        memory flat; the sum is accumulated in float64). A
        :class:`panda_viz.generators.FeatureStream` inside a ``torch.distributed`` process
        group holds one rank's shard: each rank sums its samples and the ranks' sums are
        added in rank order, so every rank gets the single-process μ_k.
    appearances : int, sequence of int, or None
        Which columns of A (default: all).

    Returns
    -------
    Tensor (K,), float32
    """
    reduce = distributed.reducer_for(Z)

    def compute():
        batches = [Z] if isinstance(Z, torch.Tensor) else Z
        total, count = None, 0
        for batch in batches:
            m = saliency_maps(model, batch, appearances).double()
            s = m.sum(dim=(0, 2, 3))
            total = s if total is None else total + s.to(total.device)
            count += m.shape[0] * m.shape[2] * m.shape[3]
        if total is None:
            raise InvalidInputError("saliency_thresholds needs at least one batch of features; got an empty iterable")
        return total, count

    total, count = reduce.sum(compute, "saliency thresholds")
    return (total / count).float()


def _thresholds(model: Any, Z: torch.Tensor, index: torch.Tensor, thresholds: Any) -> torch.Tensor:
    if thresholds is None:
        return saliency_thresholds(model, Z, index)
    mu = torch.as_tensor(thresholds, dtype=torch.float32)
    if mu.ndim == 0:
        mu = mu.expand(len(index))
    if mu.shape != (len(index),):
        raise InvalidInputError(f"thresholds must be a scalar or have one value per appearance ({len(index)}); got shape {tuple(mu.shape)}")
    return mu


def _size(size: int | Sequence[int] | None, default: tuple[int, int]) -> tuple[int, int]:
    if size is None:
        return default
    size = (int(size), int(size)) if is_int(size) else tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise InvalidInputError(f"size must be an int or (height, width) of positive ints; got {size!r}")
    return size


def localize(
    model: Any,
    Z: torch.Tensor,
    appearances: Appearances = None,
    *,
    thresholds: torch.Tensor | float | Sequence[float] | None = None,
    size: int | tuple[int, int] | None = None,
) -> torch.Tensor:
    """Binary localisation masks m̃_ik = [m_ik ≥ μ_k], optionally at image size.

    The saliency maps are upsampled bilinearly to ``size`` first and then thresholded,
    so mask boundaries follow the smooth map rather than the layer's coarse grid.

    Parameters
    ----------
    model : fitted PandA
    Z : Tensor (N, C, H, W)
    appearances : int, sequence of int, or None
        Which concepts (default: all).
    thresholds : Tensor (K,), scalar, or None
        μ_k for each selected appearance. ``None`` computes them from ``Z`` itself with
        :func:`saliency_thresholds`; the paper averages over a larger set of samples, so
        pass thresholds computed once from many samples for stable masks.
    size : int or (height, width), optional
        Output size (the generator's image size, e.g. 64); default the layer's (H, W).

    Returns
    -------
    Tensor (N, K, height, width), bool
    """
    index = appearance_indices(model, appearances)
    m = saliency_maps(model, Z, index, size=size)
    mu = _thresholds(model, Z, index, thresholds).to(m.device, m.dtype)
    return m >= mu[None, :, None, None]


def fill_images(
    generator: Any,
    latents: torch.Tensor,
    model: Any,
    appearance: int,
    *,
    thresholds: torch.Tensor | float | None = None,
    fill: float | Sequence[float] = 1.0,
    layer: str | None = None,
) -> torch.Tensor:
    """Images with the pixels of concept ``appearance`` (e.g. the background) replaced by ``fill``.

    The mask is :func:`localize` of the concept at image size, from the features of
    ``latents`` at the model's layer (paper, Sec. 4.1.2 and Fig. 5); the image itself is
    untouched elsewhere.

    Parameters
    ----------
    generator : panda_viz.Generator
    latents : Tensor (N, *latent_shape)
    model : fitted PandA
    appearance : int
        The concept to remove, e.g. from
        :func:`panda_viz.editing.removal.propose_background_appearance`.
    thresholds : scalar or Tensor (1,), optional
        μ_k; default from these samples' features.
    fill : float or 3 floats in [-1, 1]
        Value of removed pixels (1.0: white).
    layer : str, optional
        Needed only when the model does not record its layer.

    Returns
    -------
    Tensor (N, 3, H, W) in [-1, 1]
    """
    layer = check_compatible(generator, model, layer)
    Z = generator.features(latents, layer)
    images = generator.synthesize(latents)
    mask = localize(model, Z, [appearance], thresholds=thresholds, size=tuple(images.shape[-2:]))
    value = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
    if value.shape[0] not in (1, images.shape[1]):
        raise InvalidInputError(f"fill must be one value or {images.shape[1]} (one per channel); got {tuple(torch.as_tensor(fill).shape)}")
    return torch.where(mask.to(images.device), value.expand(images.shape[1], *images.shape[-2:]), images)
